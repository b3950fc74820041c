import type { HeartbeatReply, LeaseReply, SchedulerHandlers } from '@visionbatch/shared/grpc';
import type { JobsRepo } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { jobQueueName } from '@visionbatch/shared/queues';
import type { RegistryRepo } from '@visionbatch/shared/registry-repo';
import type { Counter } from 'prom-client';
import { effectiveDefinition, machineTypeOf, workersPerMachineOf } from './effective-definition.ts';
import { buildJobContext } from './job-context.ts';
import type { JobDriver } from './job-driver.ts';
import type { JobQueues } from './job-queues.ts';
import type { LeaseStore } from './leases.ts';

const NO_LEASE: LeaseReply = {
  granted: false,
  lease_id: '',
  workspace: '',
  job_id: '',
  queue_name: '',
  workers_per_machine: 0,
  job_context_json: '',
};

export interface ControlPlaneDeps {
  jobs: JobsRepo;
  registry: RegistryRepo;
  leases: LeaseStore;
  queues: JobQueues;
  driver: JobDriver;
  logger: Logger;
  meteredSeconds: Counter<'pool'>;
}

/**
 * The scheduler's gRPC handlers: job control for the api, leases for worker machines.
 * A machine gets, among the running jobs of its pool that have waiting tasks and fewer machines
 * than their cap (`maxParallelTasks / workersPerMachine`), the one holding the fewest machines
 * (the oldest on a tie), so concurrent jobs share a pool instead of queueing behind each other.
 */
export function controlPlane(d: ControlPlaneDeps): SchedulerHandlers {
  const ok = (message = '') => ({ ok: true, message });
  return {
    async SubmitJob({ workspace, job_id }) {
      await d.driver.driveOnce(workspace, job_id);
      return ok();
    },
    async AbortJob({ workspace, job_id }) {
      const rec = await d.jobs.get(workspace, job_id);
      if (!rec) return { ok: false, message: 'no such job' };
      if (!rec.isTerminal) await d.driver.abort(rec);
      return ok(rec.isTerminal ? `job already ${rec.state}` : 'aborted');
    },
    async RestartJob({ workspace, job_id }) {
      const rec = await d.jobs.get(workspace, job_id);
      if (!rec) return { ok: false, message: 'no such job' };
      if (rec.isTerminal && rec.state !== 'succeeded') await d.driver.restart(rec);
      return ok();
    },
    async LeaseJob({ machine_id, pool }) {
      const p = pool === 'gpu' ? 'gpu' : 'cpu';
      const held = await d.leases.ofMachine(machine_id);
      if (held) {
        // A machine asks again only after it let go of its job: close the old lease first.
        const ms = await d.leases.close(held);
        if (ms !== null) {
          d.meteredSeconds.inc({ pool: held.pool }, ms / 1000);
          d.logger.info(
            {
              machineId: machine_id,
              jobId: held.jobId,
              leaseId: held.leaseId,
              billedMs: ms,
              reason: 'machine asked for a new lease',
            },
            'lease released',
          );
        }
      }
      await d.leases.machineSeen(machine_id, p);
      const candidates = [];
      for (const { workspace, jobId } of await d.jobs.activeJobs()) {
        const rec = await d.jobs.get(workspace, jobId);
        if (!rec || rec.isTerminal || rec.state !== 'running') continue;
        const def = effectiveDefinition(rec.definition, rec.restartOverrides);
        if (machineTypeOf(def) !== p) continue;
        const wpm = workersPerMachineOf(def);
        const cap = def.maxParallelTasks
          ? Math.max(1, Math.ceil(def.maxParallelTasks / wpm))
          : Number.POSITIVE_INFINITY;
        const leased = await d.leases.countForJob(workspace, jobId);
        if (leased >= cap) continue;
        // Tasks still "active" while no machine holds the job were orphaned by a machine that died
        // (or whose lease expired): only a machine serving the queue moves them back to waiting, once
        // their lock has expired, so such a job needs a machine as much as one with waiting tasks.
        const q = await d.queues.pending(workspace, jobId);
        if (q.waiting === 0 && !(q.active > 0 && leased === 0)) continue;
        candidates.push({ rec, wpm, leased });
      }
      // Fair share: the job holding the fewest machines first (a second job is never starved while
      // the first has queued work), then the oldest.
      candidates.sort((a, b) => a.leased - b.leased || a.rec.createdAt - b.rec.createdAt);
      for (const { rec, wpm } of candidates) {
        let context: string;
        try {
          context = JSON.stringify(await buildJobContext(rec, d.registry));
        } catch (err) {
          await d.driver.fail(rec, (err as Error).message, 'job-context-failed');
          continue;
        }
        const lease = await d.leases.grant(machine_id, p, rec.workspace, rec.jobId);
        d.logger.info(
          { machineId: machine_id, workspace: rec.workspace, jobId: rec.jobId, leaseId: lease.leaseId },
          'lease granted',
        );
        return {
          granted: true,
          lease_id: lease.leaseId,
          workspace: rec.workspace,
          job_id: rec.jobId,
          queue_name: jobQueueName(rec.workspace, rec.jobId),
          workers_per_machine: wpm,
          job_context_json: context,
        };
      }
      return NO_LEASE;
    },
    async Heartbeat({ machine_id, lease_id }): Promise<HeartbeatReply> {
      if (!lease_id) return { keep_going: false };
      const lease = await d.leases.heartbeat(machine_id, lease_id);
      if (!lease) return { keep_going: false };
      const rec = await d.jobs.get(lease.workspace, lease.jobId);
      return { keep_going: !!rec && !rec.isTerminal };
    },
    async ReleaseLease({ machine_id, lease_id, reason }) {
      const lease = await d.leases.get(lease_id);
      if (!lease || lease.machineId !== machine_id) return ok('no such lease');
      const ms = await d.leases.close(lease);
      if (ms !== null) d.meteredSeconds.inc({ pool: lease.pool }, ms / 1000);
      d.logger.info(
        { machineId: machine_id, jobId: lease.jobId, leaseId: lease_id, billedMs: ms, reason },
        'lease released',
      );
      return ok();
    },
  };
}
