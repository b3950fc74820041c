import os from 'node:os';
import type { Config } from '@visionbatch/shared/config';
import { DeadlineExceededError, withDeadline } from '@visionbatch/shared/deadline';
import {
  MACHINE_STARTED_LOG,
  type MachineStartedPayload,
  TASK_TIMING_LOG,
  type TaskTimingPayload,
} from '@visionbatch/shared/estimate/measure';
import type { LeaseReply, SchedulerClient } from '@visionbatch/shared/grpc';
import type { JobsRepo, OutputListing, TaskAttempt } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { QUEUE_PREFIX, taskLockKey } from '@visionbatch/shared/queues';
import type { JobContext, Task, TaskOutcome } from '@visionbatch/shared/tasks';
import type { JobLog } from '@visionbatch/shared/wire/batch-processing';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkerMetrics } from './metrics.ts';
import { SlotTaskError } from './slot-pool.ts';
import { type StartRunner, startSlotPool, type TaskRunner } from './task-runner.ts';

export interface MachineDeps {
  config: Config;
  scheduler: SchedulerClient;
  connection: Redis;
  jobs: JobsRepo;
  logger: Logger;
  metrics: WorkerMetrics;
  /** what runs the tasks (default: slot threads with the job's models) */
  startRunner?: StartRunner;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A task attempt whose write was refused: the job ended or restarted, or the attempt lost its lock
 * to another one. Its work is dropped; it is expected after aborts, restarts and crashes.
 */
class StaleAttemptError extends Error {
  constructor(taskId: string, refusal: string) {
    super(`task ${taskId}: attempt no longer current (${refusal}); its result is dropped`);
    this.name = 'StaleAttemptError';
  }
}

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
    // The CPUs this machine was given (VB_WORKER_CPU_REQUEST, its Kubernetes CPU request), else every core.
    const cores = Math.max(1, Math.floor(config.worker.cpus ?? os.availableParallelism()));
    const slots = config.worker.slotsOverride ?? Math.max(1, Math.min(lease.workers_per_machine, cores));
    const intraOpNumThreads = Math.max(1, Math.floor(cores / slots));
    this.busy = true;
    metrics.leases.set(1);
    let keepGoing = true;
    let pool: TaskRunner | null = null;
    let initError: string | null = null;
    const started = Date.now();
    // Heartbeats run on a timer from the moment the lease is granted, model loading included: a
    // load longer than the lease TTL would otherwise let the scheduler expire a live lease (billed
    // only up to its last heartbeat) and take the job away from a machine that is about to serve it.
    const beatEvery = Math.max(250, Math.min(1000, Math.floor(config.leaseTtlMs / 4)));
    // A scheduler gap (a rollout, a failover) is ridden out for the grace: the tasks' own writes are
    // fenced in Redis, so working on is safe; past the grace the machine cannot learn of an abort
    // any more and stops.
    let beating = false;
    let lastAnswer = Date.now();
    let stopReason = '';
    const beat = async () => {
      if (beating) return;
      beating = true;
      try {
        const r = await this.d.scheduler.Heartbeat({
          machine_id: config.worker.id,
          lease_id: lease.lease_id,
        });
        lastAnswer = Date.now();
        if (!r.keep_going) {
          keepGoing = false;
          stopReason ||= r.reason || 'lease ended';
        }
      } catch (err) {
        const silentMs = Date.now() - lastAnswer;
        log.warn({ err: (err as Error).message, silentMs }, 'heartbeat failed');
        if (silentMs > config.lifecycle.schedulerGraceMs) {
          keepGoing = false;
          stopReason ||= `no scheduler answered for ${Math.round(silentMs / 1000)} s (grace ${config.lifecycle.schedulerGraceMs / 1000} s)`;
        }
      } finally {
        beating = false;
      }
    };
    const heartbeats = setInterval(() => void beat(), beatEvery);
    try {
      const r = await (this.d.startRunner ?? startSlotPool)(
        slots,
        { context, store: config.store, intraOpNumThreads, cacheDir: config.worker.cacheDir },
        log,
        (ms) => {
          metrics.modelLoad.observe(ms / 1000);
          // A cost estimate separates this fixed start-up (a slot loading the models, once per
          // lease, on its first task that needs them) from the per-file cost.
          if (context.estimate) {
            const payload: MachineStartedPayload = { machine: config.worker.id, slots, modelLoadMs: ms };
            void this.d.jobs
              .log(context.workspace, context.jobId, {
                processingStageId: null,
                taskId: null,
                severity: 'info',
                reportingModule: 'worker',
                logType: MACHINE_STARTED_LOG,
                payload: payload as unknown as Record<string, unknown>,
              })
              .catch((err) => log.warn({ err: (err as Error).message }, 'could not log the start-up'));
          }
        },
      );
      pool = r.runner;
      log.info({ slots, intraOpNumThreads }, 'lease started');
    } catch (err) {
      initError = (err as Error).message;
      log.error({ err: initError }, "slots could not start; the job's tasks fail with this reason");
    }

    const worker = new Worker<Task>(
      lease.queue_name,
      (job, token) => this.process(job, token, lease, context, pool, initError),
      {
        connection: this.d.connection,
        prefix: QUEUE_PREFIX,
        concurrency: slots,
        lockDuration: config.worker.taskLockMs,
        stalledInterval: Math.max(1000, Math.floor(config.worker.taskLockMs / 2)),
        maxStalledCount: 2,
        autorun: true,
      },
    );
    worker.on('error', (err) => log.warn({ err: err.message }, 'queue worker error'));
    const queue = new Queue(lease.queue_name, { connection: this.d.connection, prefix: QUEUE_PREFIX });

    let stopRequested = false;
    this.current = { leaseId: lease.lease_id, stop: () => (stopRequested = true) };
    // The lease loop: watch for abort (heartbeat replies), and release once the queue has no work left.
    // Woken early when a task ends (the queue may be drained): a machine moves on to the next job as
    // soon as this one has no work, instead of holding its lease (and its bill) until the next beat.
    let wake: () => void = () => {};
    const onTaskEnd = () => wake();
    worker.on('completed', onTaskEnd);
    worker.on('failed', onTaskEnd);
    worker.on('drained', onTaskEnd);
    for (;;) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, beatEvery);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (!keepGoing) {
        log.info({ reason: stopReason }, 'lease ended: cancelling running tasks');
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

  /**
   * The BullMQ processor: runs one task on a slot and records its outcome. Every write is fenced by
   * the lease's epoch and the attempt's BullMQ lock token, so an attempt of an aborted or restarted
   * job, or one that lost its lock to a newer attempt, changes nothing.
   */
  private async process(
    job: Job<Task>,
    token: string | undefined,
    lease: LeaseReply,
    context: JobContext,
    pool: TaskRunner | null,
    initError: string | null,
  ): Promise<TaskOutcome | null> {
    const task = job.data;
    const { jobs, metrics } = this.d;
    const ws = context.workspace;
    const jobId = context.jobId;
    const log = this.d.logger.child({ workspace: ws, jobId, taskId: task.taskId, stage: task.stage });
    const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const attempt: TaskAttempt = {
      workspace: ws,
      jobId,
      epoch: lease.epoch,
      stage: task.stage,
      taskId: task.taskId,
      lock: { key: taskLockKey(lease.queue_name, job.id ?? ''), token: token ?? '' },
    };
    const fenced = async (p: Promise<{ ok: boolean; refusal?: string }>) => {
      const r = await p;
      if (!r.ok) throw new StaleAttemptError(task.taskId, (r as { refusal: string }).refusal);
    };
    this.running++;
    const t0 = process.hrtime.bigint();
    try {
      const started = await jobs.taskStart(attempt, `running on ${this.d.config.worker.id}`);
      if (!started.ok) {
        if (started.refusal === 'task-done') return null;
        throw new StaleAttemptError(task.taskId, started.refusal);
      }
      if (!pool) throw new SlotTaskError(initError ?? 'slots unavailable', true);
      let lastReport = 0;
      const runner = pool;
      const outcome = await withDeadline(`task ${task.taskId}`, this.d.config.worker.taskTimeoutMs, () =>
        runner.run(task, (done, total) => {
          const now = Date.now();
          if (now - lastReport < 500) return;
          lastReport = now;
          void jobs.taskProgress(attempt, total ? done / total : 0, `${done}/${total} files`).catch(() => {});
        }),
      ).catch(async (err) => {
        if (!(err instanceof DeadlineExceededError)) throw err;
        // a task past its deadline: its slot is replaced, the attempt fails and is retried
        await runner.abandon(task.taskId, err.message);
        throw new SlotTaskError(err.message, false);
      });
      const files = { ok: outcome.processed, failed: outcome.failures.length };
      const logs: Array<Omit<JobLog, 'createdAt'>> = outcome.failures.slice(0, 1000).map((f) => ({
        processingStageId: task.stage,
        taskId: task.taskId,
        severity: 'error' as const,
        reportingModule: 'worker',
        logType: 'image-failed',
        payload: { file: f.file, reason: f.reason, message: f.message },
      }));
      if (outcome.thresholdExceeded) {
        const why = `${files.failed} of ${task.input.files.length} files failed, above the job's failure threshold`;
        logs.push({
          processingStageId: task.stage,
          taskId: task.taskId,
          severity: 'error',
          reportingModule: 'worker',
          logType: 'task-failed',
          payload: { reason: 'failure-threshold-exceeded', ...files },
        });
        await fenced(
          jobs.taskFinish(attempt, {
            ok: false,
            notification: { error: why, failures: countReasons(outcome) },
            files,
            logs,
          }),
        );
        this.countFiles(task, files);
        metrics.tasks.inc({ stage: task.stage, outcome: 'failed' });
        throw new UnrecoverableError(why);
      }
      if (context.estimate && task.kind !== 'export' && outcome.timing) {
        const payload: TaskTimingPayload = {
          stage: task.stage,
          ...outcome.timing,
          taskMs: Number(process.hrtime.bigint() - t0) / 1e6,
        };
        logs.push({
          processingStageId: task.stage,
          taskId: task.taskId,
          severity: 'info',
          reportingModule: 'worker',
          logType: TASK_TIMING_LOG,
          payload: payload as unknown as Record<string, unknown>,
        });
      }
      await fenced(
        jobs.taskFinish(attempt, {
          ok: true,
          notification: { filesProcessed: files.ok, filesFailed: files.failed },
          files,
          outputs: outputListings(task, outcome),
          logs,
        }),
      );
      this.countFiles(task, files);
      metrics.tasks.inc({ stage: task.stage, outcome: 'succeeded' });
      return { ...outcome, failures: [] };
    } catch (err) {
      if (err instanceof UnrecoverableError) throw err;
      if (err instanceof StaleAttemptError) {
        log.info({ err: err.message }, 'stale task attempt stopped');
        throw new UnrecoverableError(err.message);
      }
      const permanent = err instanceof SlotTaskError && err.permanent;
      log.warn(
        { err: (err as Error).message, attempt: job.attemptsMade + 1, permanent },
        'task attempt failed',
      );
      if (permanent || finalAttempt) {
        const r = await jobs.taskFinish(attempt, {
          ok: false,
          notification: { error: (err as Error).message },
          files: { ok: 0, failed: task.input.files.length },
          logs: [
            {
              processingStageId: task.stage,
              taskId: task.taskId,
              severity: 'error',
              reportingModule: 'worker',
              logType: 'task-failed',
              payload: { reason: (err as Error).message, attempts: job.attemptsMade + 1 },
            },
          ],
        });
        if (r.ok) metrics.tasks.inc({ stage: task.stage, outcome: 'failed' });
      }
      throw permanent ? new UnrecoverableError((err as Error).message) : err;
    } finally {
      this.running--;
      metrics.taskSeconds.observe({ stage: task.stage }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }

  /** Input files only: an export task's archive is not an input. */
  private countFiles(task: Task, files: { ok: number; failed: number }): void {
    if (task.kind === 'export') return;
    this.d.metrics.files.inc({ outcome: 'ok' }, files.ok);
    this.d.metrics.files.inc({ outcome: 'failed' }, files.failed);
  }
}

/**
 * The files a task lists in its stage's output batch when it finishes: its main output (results
 * file or archive) and persisted image outputs, so the export sees them once the task counts as done.
 */
function outputListings(task: Task, outcome: TaskOutcome): OutputListing[] {
  const out: OutputListing[] = [];
  if (outcome.outputKey && task.output) {
    out.push({
      batchId: task.output.batchId,
      part: task.output.part,
      files: [
        {
          name: task.output.fileName,
          rec: {
            contentType: task.kind === 'export' ? 'archives' : 'metadata',
            size: outcome.outputBytes ?? 0,
            ...(task.kind === 'export'
              ? { nestedContentType: task.input.keyPaths ? 'images' : 'metadata' }
              : {}),
          },
        },
      ],
    });
  }
  const extra = outcome.extraFiles ?? [];
  for (const part of new Set(extra.map((f) => f.part)))
    out.push({
      batchId: task.output.batchId,
      part,
      files: extra
        .filter((f) => f.part === part)
        .map((f) => ({ name: f.fileName, rec: { contentType: f.contentType, size: f.size } })),
    });
  return out;
}

function countReasons(o: TaskOutcome): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of o.failures) out[f.reason] = (out[f.reason] ?? 0) + 1;
  return out;
}
