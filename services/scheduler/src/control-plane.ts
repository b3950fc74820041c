import {
  effectiveDefinition,
  machineTypeOf,
  workersPerMachineOf,
} from '@visionbatch/shared/effective-definition';
import type { HeartbeatReply, LeaseReply, SchedulerHandlers } from '@visionbatch/shared/grpc';
import type { JobRecord, JobsRepo } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { jobQueueName } from '@visionbatch/shared/queues';
import type { Counter } from 'prom-client';
import { buildJobContext } from './job-context.ts';
import type { JobDriver } from './job-driver.ts';
import type { JobQueues } from './job-queues.ts';
import type { Lease, LeaseStore } from './leases.ts';

const NO_LEASE: LeaseReply = {
  granted: false,
  lease_id: '',
  workspace: '',
  job_id: '',
  queue_name: '',
  workers_per_machine: 0,
  job_context_json: '',
  epoch: 0,
};

export interface ControlPlaneDeps {
  jobs: JobsRepo;
  leases: LeaseStore;
  queues: JobQueues;
  driver: JobDriver;
  logger: Logger;
  meteredSeconds: Counter<'pool'>;
}

/**
 * The scheduler's gRPC handlers, served by every replica: job nudges for the api, leases for
 * worker machines. A machine gets, among the running jobs of its pool that have waiting tasks and
 * fewer machines than their cap (`maxParallelTasks / workersPerMachine`), the one holding the
 * fewest machines (the oldest on a tie), so concurrent jobs share a pool instead of queueing
 * behind each other. The grant itself re-checks the cap and the job's epoch atomically, so
 * concurrent calls never over-grant.
 */
export function controlPlane(d: ControlPlaneDeps): SchedulerHandlers {
  const ok = (message = '') => ({ ok: true, message });
  const closeHeld = async (held: Lease, reason: string, atLastHeartbeat = false) => {
    const ms = await d.leases.close(held, atLastHeartbeat);
    if (ms === null) return;
    d.meteredSeconds.inc({ pool: held.pool }, ms / 1000);
    d.logger.info(
      { machineId: held.machineId, jobId: held.jobId, leaseId: held.leaseId, billedMs: ms, reason },
      'lease released',
    );
  };
  return {
    async SubmitJob({ workspace, job_id }) {
      // Only the leader drives jobs; on another replica the leader's next tick finds the job.
      d.driver.poke(workspace, job_id);
      return ok();
    },
    async LeaseJob({ machine_id, pool }) {
      const p = pool === 'gpu' ? 'gpu' : 'cpu';
      const held = await d.leases.ofMachine(machine_id);
      // A machine asks again only after it let go of its job (its release failed), or after it
      // crashed and came back under its id: close the old lease first, billed up to its last
      // heartbeat as an expired one is, so that the time the machine was dead is not billed.
      if (held) await closeHeld(held, 'machine asked for a new lease', true);
      await d.leases.machineSeen(machine_id, p);
      const candidates: Array<{ rec: JobRecord; wpm: number; leased: number; cap: number | null }> = [];
      for (const { workspace, jobId } of await d.jobs.activeJobs()) {
        const rec = await d.jobs.get(workspace, jobId);
        if (!rec || rec.state !== 'running') continue;
        const def = effectiveDefinition(rec.definition, rec.restartOverrides);
        if (machineTypeOf(def) !== p) continue;
        const wpm = workersPerMachineOf(def);
        const cap = def.maxParallelTasks ? Math.max(1, Math.ceil(def.maxParallelTasks / wpm)) : null;
        const leased = await d.leases.countForJob(workspace, jobId);
        if (cap !== null && leased >= cap) continue;
        // Tasks still "active" while no machine holds the job were orphaned by a machine that died
        // (or whose lease expired): only a machine serving the queue moves them back to waiting, once
        // their lock has expired, so such a job needs a machine as much as one with waiting tasks.
        const q = await d.queues.pending(workspace, jobId, rec.epoch);
        if (q.waiting === 0 && !(q.active > 0 && leased === 0)) continue;
        candidates.push({ rec, wpm, leased, cap });
      }
      // Fair share: the job holding the fewest machines first (a second job is never starved while
      // the first has queued work), then the oldest.
      candidates.sort((a, b) => a.leased - b.leased || a.rec.createdAt - b.rec.createdAt);
      for (const { rec, wpm, cap } of candidates) {
        let context: string;
        try {
          context = JSON.stringify(buildJobContext(rec, await d.jobs.snapshot(rec.workspace, rec.jobId)));
        } catch (err) {
          await d.driver.fail(rec, (err as Error).message, 'job-context-failed');
          continue;
        }
        const granted = await d.leases.grant(machine_id, p, rec.workspace, rec.jobId, rec.epoch, cap);
        if (!granted.ok) continue;
        const lease = granted.lease;
        d.logger.info(
          {
            machineId: machine_id,
            workspace: rec.workspace,
            jobId: rec.jobId,
            epoch: rec.epoch,
            leaseId: lease.leaseId,
          },
          'lease granted',
        );
        return {
          granted: true,
          lease_id: lease.leaseId,
          workspace: rec.workspace,
          job_id: rec.jobId,
          queue_name: jobQueueName(rec.workspace, rec.jobId, rec.epoch),
          workers_per_machine: wpm,
          job_context_json: context,
          epoch: rec.epoch,
        };
      }
      return NO_LEASE;
    },
    async Heartbeat({ machine_id, lease_id }): Promise<HeartbeatReply> {
      if (!lease_id) return { keep_going: false, reason: 'no lease' };
      const lease = await d.leases.heartbeat(machine_id, lease_id);
      if (!lease) return { keep_going: false, reason: 'lease closed or expired' };
      const rec = await d.jobs.get(lease.workspace, lease.jobId);
      if (!rec) return { keep_going: false, reason: 'job gone' };
      if (rec.epoch !== lease.epoch) return { keep_going: false, reason: 'job restarted' };
      if (rec.state !== 'running') return { keep_going: false, reason: `job ${rec.state}` };
      return { keep_going: true, reason: '' };
    },
    async ReleaseLease({ machine_id, lease_id, reason }) {
      const lease = await d.leases.get(lease_id);
      if (!lease || lease.machineId !== machine_id) return ok('no such lease');
      await closeHeld(lease, reason);
      // A machine releases after its queue worker has stopped. If the job ended (or restarted) while
      // it served, its worker may have written to the epoch's queue after the outbox removed it (a
      // stalled check recreates the queue's meta hash): remove it again now that nothing writes to it.
      const rec = await d.jobs.get(lease.workspace, lease.jobId);
      if (!rec || rec.isTerminal || rec.epoch !== lease.epoch)
        await d.queues.destroy(jobQueueName(lease.workspace, lease.jobId, lease.epoch));
      return ok();
    },
  };
}
