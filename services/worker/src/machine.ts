import os from 'node:os';
import type { BatchesRepo } from '@visionbatch/shared/batches-repo';
import type { Config } from '@visionbatch/shared/config';
import type { LeaseReply, SchedulerClient } from '@visionbatch/shared/grpc';
import type { JobsRepo } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { QUEUE_PREFIX } from '@visionbatch/shared/queues';
import type { JobContext, Task, TaskOutcome } from '@visionbatch/shared/tasks';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkerMetrics } from './metrics.ts';
import { SlotPool, SlotTaskError } from './slot-pool.ts';

export interface MachineDeps {
  config: Config;
  scheduler: SchedulerClient;
  connection: Redis;
  jobs: JobsRepo;
  batches: BatchesRepo;
  logger: Logger;
  metrics: WorkerMetrics;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One worker machine of a pool: leases one job at a time from the scheduler and serves that
 * job's queue with its slots until the queue has no waiting work (or the scheduler says stop),
 * then releases the lease and asks again.
 */
export class Machine {
  private stopping = false;
  private current: { leaseId: string; stop: () => void } | null = null;
  /** true while a lease is held: /readyz stays ready either way, this is for metrics and drain */
  busy = false;

  constructor(private readonly d: MachineDeps) {}

  async run(): Promise<void> {
    const { id, pool } = this.d.config.worker;
    let idleWait = 250;
    while (!this.stopping) {
      let reply: LeaseReply;
      try {
        reply = await this.d.scheduler.LeaseJob({ machine_id: id, pool });
      } catch (err) {
        this.d.logger.warn({ err: (err as Error).message }, 'scheduler unreachable; retrying');
        await sleep(1000);
        continue;
      }
      if (!reply.granted) {
        await sleep(idleWait);
        idleWait = Math.min(idleWait * 2, 2000);
        continue;
      }
      idleWait = 250;
      await this.serve(reply);
    }
  }

  /** Stops taking leases; the current lease drains its running tasks first. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.current?.stop();
  }

  private async serve(lease: LeaseReply): Promise<void> {
    const { config, logger: base, metrics } = this.d;
    const log = base.child({ workspace: lease.workspace, jobId: lease.job_id, leaseId: lease.lease_id });
    const context = JSON.parse(lease.job_context_json) as JobContext;
    const cores = os.availableParallelism();
    const slots = config.worker.slotsOverride ?? Math.max(1, Math.min(lease.workers_per_machine, cores));
    const intraOpNumThreads = Math.max(1, Math.floor(cores / slots));
    this.busy = true;
    metrics.leases.set(1);
    let keepGoing = true;
    let pool: SlotPool | null = null;
    let initError: string | null = null;
    const started = Date.now();
    // Heartbeats run on a timer from the moment the lease is granted, model loading included: a
    // load longer than the lease TTL would otherwise let the scheduler expire a live lease (billed
    // only up to its last heartbeat) and take the job away from a machine that is about to serve it.
    const beatEvery = Math.max(250, Math.min(1000, Math.floor(config.leaseTtlMs / 4)));
    let beating = false;
    const beat = async () => {
      if (beating) return;
      beating = true;
      try {
        const r = await this.d.scheduler.Heartbeat({
          machine_id: config.worker.id,
          lease_id: lease.lease_id,
        });
        if (!r.keep_going) keepGoing = false;
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'heartbeat failed');
      } finally {
        beating = false;
      }
    };
    const heartbeats = setInterval(() => void beat(), beatEvery);
    try {
      const r = await SlotPool.start(
        slots,
        { context, store: config.store, intraOpNumThreads, cacheDir: config.worker.cacheDir },
        log,
        (ms) => metrics.modelLoad.observe(ms / 1000),
      );
      pool = r.pool;
      log.info({ slots, intraOpNumThreads }, 'lease started');
    } catch (err) {
      initError = (err as Error).message;
      log.error({ err: initError }, "slots could not start; the job's tasks fail with this reason");
    }

    const worker = new Worker<Task>(lease.queue_name, (job) => this.process(job, context, pool, initError), {
      connection: this.d.connection,
      prefix: QUEUE_PREFIX,
      concurrency: slots,
      lockDuration: config.worker.taskLockMs,
      stalledInterval: Math.max(1000, Math.floor(config.worker.taskLockMs / 2)),
      maxStalledCount: 2,
      autorun: true,
    });
    worker.on('error', (err) => log.warn({ err: err.message }, 'queue worker error'));
    const queue = new Queue(lease.queue_name, { connection: this.d.connection, prefix: QUEUE_PREFIX });

    let stopRequested = false;
    this.current = { leaseId: lease.lease_id, stop: () => (stopRequested = true) };
    // The lease loop: watch for abort (heartbeat replies), and release once the queue has no work left.
    for (;;) {
      await sleep(beatEvery);
      if (!keepGoing) {
        log.info('scheduler ended the lease (job finished or aborted): cancelling running tasks');
        pool?.cancel();
        break;
      }
      // this.stopping too: a drain requested while the lease request was in flight (e.g. a scale-down
      // of an idle machine) ends the lease just granted instead of serving the whole queue.
      if (stopRequested || this.stopping) break;
      // Active tasks count too: one may belong to a machine that died, and it comes back to waiting
      // only through a queue worker's stalled check (after its lock expires), so stay until none is left.
      const c = await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active').catch(() => null);
      const pending = c ? (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0) : 1;
      if (pending === 0 && worker.isRunning() && this.running === 0) break;
    }
    await worker.close(!keepGoing);
    await queue.close();
    await pool?.close();
    // Heartbeats go on while the machine winds down: it is still serving (billed) until it releases.
    clearInterval(heartbeats);
    try {
      await this.d.scheduler.ReleaseLease({
        machine_id: config.worker.id,
        lease_id: lease.lease_id,
        reason: keepGoing ? 'queue drained' : 'lease ended',
      });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'release failed; the lease expires on its own');
    }
    this.current = null;
    this.busy = false;
    metrics.leases.set(0);
    log.info({ heldMs: Date.now() - started }, 'lease released');
  }

  /** tasks running on this machine now */
  private running = 0;

  /** The BullMQ processor: runs one task on a slot and records its outcome. */
  private async process(
    job: Job<Task>,
    context: JobContext,
    pool: SlotPool | null,
    initError: string | null,
  ): Promise<TaskOutcome> {
    const task = job.data;
    const { jobs, batches, metrics } = this.d;
    const ws = context.workspace;
    const jobId = context.jobId;
    const log = this.d.logger.child({ workspace: ws, jobId, taskId: task.taskId, stage: task.stage });
    const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    this.running++;
    const t0 = process.hrtime.bigint();
    try {
      await jobs.taskProgress(ws, jobId, task.stage, task.taskId, 0, `running on ${this.d.config.worker.id}`);
      if (!pool) throw new SlotTaskError(initError ?? 'slots unavailable', true);
      let lastReport = 0;
      const outcome = await pool.run(task, (done, total) => {
        const now = Date.now();
        if (now - lastReport < 500) return;
        lastReport = now;
        void jobs
          .taskProgress(
            ws,
            jobId,
            task.stage,
            task.taskId,
            total ? done / total : 0,
            `${done}/${total} files`,
          )
          .catch(() => {});
      });
      for (const f of outcome.failures.slice(0, 1000)) {
        await jobs.log(ws, jobId, {
          processingStageId: task.stage,
          taskId: task.taskId,
          severity: 'error',
          reportingModule: 'worker',
          logType: 'image-failed',
          payload: { file: f.file, reason: f.reason, message: f.message },
        });
      }
      if (task.kind !== 'export') {
        // input files only: an export task's archive is not an input
        metrics.files.inc({ outcome: 'ok' }, outcome.processed);
        metrics.files.inc({ outcome: 'failed' }, outcome.failures.length);
      }
      if (outcome.outputKey && task.output) {
        await batches.putFile(ws, task.output.batchId, task.output.part, task.output.fileName, {
          contentType: task.kind === 'export' ? 'archives' : 'metadata',
          size: outcome.outputBytes ?? 0,
          ...(task.kind === 'export'
            ? { nestedContentType: task.input.keyPaths ? 'images' : 'metadata' }
            : {}),
        });
      }
      // persisted image outputs, listed before the task counts as done so the export sees them
      const extra = outcome.extraFiles ?? [];
      for (const part of new Set(extra.map((f) => f.part))) {
        const list = extra
          .filter((f) => f.part === part)
          .map((f) => ({ name: f.fileName, rec: { contentType: f.contentType, size: f.size } }));
        for (let i = 0; i < list.length; i += 1000)
          await batches.putFiles(ws, task.output.batchId, part, list.slice(i, i + 1000));
      }
      const files = { ok: outcome.processed, failed: outcome.failures.length };
      if (outcome.thresholdExceeded) {
        const why = `${files.failed} of ${task.input.files.length} files failed, above the job's failure threshold`;
        await jobs.taskFinished(
          ws,
          jobId,
          task.stage,
          task.taskId,
          false,
          { error: why, failures: countReasons(outcome) },
          files,
        );
        await jobs.log(ws, jobId, {
          processingStageId: task.stage,
          taskId: task.taskId,
          severity: 'error',
          reportingModule: 'worker',
          logType: 'task-failed',
          payload: { reason: 'failure-threshold-exceeded', ...files },
        });
        metrics.tasks.inc({ stage: task.stage, outcome: 'failed' });
        throw new UnrecoverableError(why);
      }
      await jobs.taskFinished(
        ws,
        jobId,
        task.stage,
        task.taskId,
        true,
        { filesProcessed: files.ok, filesFailed: files.failed },
        files,
      );
      metrics.tasks.inc({ stage: task.stage, outcome: 'succeeded' });
      return { ...outcome, failures: [] };
    } catch (err) {
      if (err instanceof UnrecoverableError) throw err;
      const permanent = err instanceof SlotTaskError && err.permanent;
      log.warn(
        { err: (err as Error).message, attempt: job.attemptsMade + 1, permanent },
        'task attempt failed',
      );
      if (permanent || finalAttempt) {
        await jobs.taskFinished(
          ws,
          jobId,
          task.stage,
          task.taskId,
          false,
          { error: (err as Error).message },
          { ok: 0, failed: task.input.files.length },
        );
        await jobs.log(ws, jobId, {
          processingStageId: task.stage,
          taskId: task.taskId,
          severity: 'error',
          reportingModule: 'worker',
          logType: 'task-failed',
          payload: { reason: (err as Error).message, attempts: job.attemptsMade + 1 },
        });
        metrics.tasks.inc({ stage: task.stage, outcome: 'failed' });
      }
      throw permanent ? new UnrecoverableError((err as Error).message) : err;
    } finally {
      this.running--;
      metrics.taskSeconds.observe({ stage: task.stage }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }
}

function countReasons(o: TaskOutcome): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of o.failures) out[f.reason] = (out[f.reason] ?? 0) + 1;
  return out;
}
