import type { BatchesRepo } from '@visionbatch/shared/batches-repo';
import type { AutoscalerConfig } from '@visionbatch/shared/config';
import {
  effectiveDefinition,
  machineTypeOf,
  workersPerMachineOf,
} from '@visionbatch/shared/effective-definition';
import { ActuatorError } from '@visionbatch/shared/errors';
import type { JobsRepo } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import type { Clock } from '@visionbatch/shared/time';
import type { Counter, Gauge } from 'prom-client';
import type { LeaseStore } from '../leases.ts';
import type { Actuator, Pool } from './actuator.ts';
import { desiredPoolSize, type JobWork } from './policy.ts';
import { ThroughputMeter } from './throughput.ts';

/** The pools the autoscaler sizes. */
export const POOLS: readonly Pool[] = ['cpu', 'gpu'];

/** Metrics the autoscaler keeps (registered by the composition root). */
export interface AutoscalerMetrics {
  /** vb_pool_desired_machines{pool}: what the policy wants; drive HPA/KEDA from it with the static actuator */
  desired: Gauge<'pool'>;
  /** vb_pool_target_machines{pool}: the size the actuator has set (replicas, child processes) */
  target: Gauge<'pool'>;
  /** vb_pool_files_per_machine_second{pool}: the throughput the policy uses */
  throughput: Gauge<'pool'>;
  /** vb_autoscaler_errors_total{pool,reason} */
  errors: Counter<'pool' | 'reason'>;
}

/** What the autoscaler reads and drives. */
export interface AutoscalerDeps {
  config: AutoscalerConfig;
  leaseTtlMs: number;
  jobs: JobsRepo;
  batches: BatchesRepo;
  leases: LeaseStore;
  actuator: Actuator;
  clock: Clock;
  logger: Logger;
  metrics: AutoscalerMetrics;
  /** whether this scheduler replica leads (only the leader sizes pools); absent: always */
  leads?: () => boolean;
}

/** One pool's round: what the autoscaler saw and decided. */
export interface PoolDecision {
  pool: Pool;
  jobs: number;
  remainingTasks: number;
  remainingFiles: number;
  /** the size set before this round */
  current: number;
  live: number;
  busy: number;
  desired: number;
  filesPerMachineSecond: number;
}

/** Repeated errors of one kind are logged at most this often (they stay counted in the metric). */
const ERROR_LOG_EVERY_MS = 60_000;

/**
 * The autoscaler loop of the scheduler: every `intervalMs` it gathers the remaining work of every
 * running job by pool, the live and busy machines (leases) and the measured throughput, asks the
 * policy for each pool's size and hands it to the actuator, with the lease-free machines that a
 * scale-down may remove. An actuator failure (e.g. 403 from Kubernetes) is counted, logged loudly
 * (once a minute while it lasts) and retried on the next round; it never stops the scheduler.
 */
export class Autoscaler {
  private readonly meters: Record<Pool, ThroughputMeter>;
  /** the size set last (what the pool is heading to), by pool */
  private readonly target: Record<Pool, number | null> = { cpu: null, gpu: null };
  private readonly lastChangeAt: Record<Pool, number>;
  /** processed files per job at the previous round, for the throughput */
  private lastFiles = new Map<string, number>();
  private lastRoundAt: number | null = null;
  private readonly lastErrorLog = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;

  constructor(private readonly d: AutoscalerDeps) {
    const now = d.clock.now();
    // After a (re)start, wait a cooldown before shrinking anything.
    this.lastChangeAt = { cpu: now, gpu: now };
    this.meters = {
      cpu: new ThroughputMeter(d.config.defaultFilesPerMachineSecond),
      gpu: new ThroughputMeter(d.config.defaultFilesPerMachineSecond),
    };
    for (const pool of POOLS) {
      d.metrics.desired.set({ pool }, 0);
      d.metrics.target.set({ pool }, 0);
      d.metrics.throughput.set({ pool }, d.config.defaultFilesPerMachineSecond);
      d.metrics.errors.inc({ pool, reason: 'forbidden' }, 0);
    }
  }

  /** Runs a round every `intervalMs` until {@link stop}. */
  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      // Only the leading scheduler replica sizes pools; the others keep their loop idle.
      this.running = (this.d.leads && !this.d.leads() ? Promise.resolve([]) : this.round()).catch((err) =>
        this.d.logger.error({ err }, 'autoscaler round failed'),
      );
      await this.running;
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.d.config.intervalMs);
    };
    void loop();
  }

  /** Stops the loop (after the round in progress) and closes the actuator. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.d.actuator.close();
  }

  /** One sizing round over both pools. */
  async round(): Promise<PoolDecision[]> {
    const now = this.d.clock.now();
    const dt = this.lastRoundAt === null ? 0 : now - this.lastRoundAt;
    this.lastRoundAt = now;
    const work = await this.gatherWork(dt);
    const out: PoolDecision[] = [];
    for (const pool of POOLS) {
      out.push(await this.sizePool(pool, work[pool], now));
    }
    return out;
  }

  private async sizePool(pool: Pool, jobs: JobWork[], now: number): Promise<PoolDecision> {
    const { config, leases, actuator, metrics, logger } = this.d;
    await leases.pruneMachines(pool, Math.max(60_000, 4 * this.d.leaseTtlMs));
    const machines = await leases.poolMachines(pool, this.d.leaseTtlMs);
    const busy = machines.filter((m) => m.leaseId !== null).map((m) => m.machineId);
    const idle = machines.filter((m) => m.leaseId === null).map((m) => m.machineId);
    let actuated: number | null = null;
    let reachable = true;
    try {
      actuated = await actuator.size(pool);
    } catch (err) {
      // Still size the pool (the gauge may drive KEDA), but do not actuate blind.
      this.actuatorFailed(pool, err);
      reachable = false;
    }
    // The static actuator cannot tell: the pool is what the policy decided last (or what is alive).
    const current = actuated ?? this.target[pool] ?? machines.length;
    if (this.target[pool] !== null && this.target[pool] !== current) this.lastChangeAt[pool] = now;
    this.target[pool] = current;
    const filesPerMachineSecond = this.meters[pool].filesPerMachineSecond();
    const limits = config.pools[pool];
    const desired = desiredPoolSize(
      jobs,
      { min: limits.min, max: limits.max, current, busy: busy.length, lastChangeAt: this.lastChangeAt[pool] },
      {
        targetDrainSeconds: config.targetDrainMs / 1000,
        filesPerMachineSecond,
        scaleDownCooldownMs: config.scaleDownCooldownMs,
      },
      now,
    );
    metrics.desired.set({ pool }, desired);
    metrics.throughput.set({ pool }, filesPerMachineSecond);
    const decision: PoolDecision = {
      pool,
      jobs: jobs.length,
      remainingTasks: jobs.reduce((s, j) => s + j.remainingTasks, 0),
      remainingFiles: jobs.reduce((s, j) => s + j.remainingFiles, 0),
      current,
      live: machines.length,
      busy: busy.length,
      desired,
      filesPerMachineSecond,
    };
    if (reachable && desired !== current) {
      try {
        await actuator.scaleTo(pool, { desired, idleMachines: idle, busyMachines: busy });
        const after = (await actuator.size(pool)) ?? desired;
        if (after !== current) {
          this.lastChangeAt[pool] = now;
          logger.info({ actuator: actuator.kind, ...decision, size: after }, 'pool resized');
        }
        this.target[pool] = after;
      } catch (err) {
        this.actuatorFailed(pool, err);
      }
    }
    metrics.target.set({ pool }, this.target[pool] ?? current);
    // The api's machines route (and so the console) shows what this round decided.
    await leases.notePoolStatus(
      pool,
      {
        desired,
        target: this.target[pool] ?? current,
        filesPerMachineSecond,
        measured: this.meters[pool].measured(),
      },
      Math.max(60_000, 5 * config.intervalMs),
    );
    return decision;
  }

  /** Remaining work of every job that is not terminal, by pool; feeds the throughput meters. */
  private async gatherWork(dt: number): Promise<Record<Pool, JobWork[]>> {
    const { jobs, batches, leases } = this.d;
    const out: Record<Pool, JobWork[]> = { cpu: [], gpu: [] };
    const sample: Record<Pool, { files: number; machineMs: number }> = {
      cpu: { files: 0, machineMs: 0 },
      gpu: { files: 0, machineMs: 0 },
    };
    const seen = new Map<string, number>();
    for (const { workspace, jobId } of await jobs.activeJobs()) {
      const rec = await jobs.get(workspace, jobId);
      if (!rec || rec.isTerminal) continue;
      const def = effectiveDefinition(rec.definition, rec.restartOverrides);
      const pool = machineTypeOf(def);
      const base = {
        workersPerMachine: workersPerMachineOf(def),
        maxParallelTasks: def.maxParallelTasks ?? null,
      };
      const stage = rec.currentStage ? await jobs.getStage(workspace, jobId, rec.currentStage) : null;
      if (!stage || stage.state === 'planning') {
        // Being planned: it will need a machine in a moment, so start one now.
        out[pool].push({ ...base, remainingTasks: 1, remainingFiles: 1 });
        continue;
      }
      const counts = await jobs.stageCounts(workspace, jobId, stage.processingStageId);
      const remainingTasks = Math.max(0, stage.tasksNumber - counts.done - counts.failed);
      let remainingFiles = remainingTasks;
      if (def.type === 'simple-video-processing-v1') {
        // A video (segment) keeps a slot busy for its whole length, and its frame count is not known
        // here: size video jobs by their tasks (volume = one machine's drain-time worth per task).
        const perMachine = this.meters[pool].filesPerMachineSecond() * (this.d.config.targetDrainMs / 1000);
        remainingFiles = Math.ceil(remainingTasks * perMachine);
      } else if (stage.processingStageName === 'processing') {
        const files = await jobs.stageFileCounts(workspace, jobId, stage.processingStageId);
        const finished = files.ok + files.failed;
        const input = def.jobInput;
        const total = await batches.count(workspace, input.batchId, input.partName ?? '');
        remainingFiles = Math.max(remainingTasks, total - finished);
        const key = `${workspace}/${jobId}`;
        seen.set(key, finished);
        const before = this.lastFiles.get(key);
        if (before !== undefined && dt > 0) {
          sample[pool].files += Math.max(0, finished - before);
          sample[pool].machineMs += (await leases.countForJob(workspace, jobId)) * dt;
        }
      }
      if (remainingTasks > 0) out[pool].push({ ...base, remainingTasks, remainingFiles });
    }
    this.lastFiles = seen;
    for (const pool of POOLS) this.meters[pool].record(sample[pool].files, 1, sample[pool].machineMs);
    return out;
  }

  private actuatorFailed(pool: Pool, err: unknown): void {
    const e =
      err instanceof ActuatorError ? err : new ActuatorError('unavailable', pool, (err as Error).message);
    this.d.metrics.errors.inc({ pool, reason: e.reason });
    const key = `${pool}/${e.reason}`;
    const now = this.d.clock.now();
    if (now - (this.lastErrorLog.get(key) ?? Number.NEGATIVE_INFINITY) < ERROR_LOG_EVERY_MS) return;
    this.lastErrorLog.set(key, now);
    // forbidden and not-found need an operator: log them as errors, the rest as warnings (retried).
    const level = e.reason === 'forbidden' || e.reason === 'not-found' ? 'error' : 'warn';
    this.d.logger[level](
      { pool, actuator: this.d.actuator.kind, reason: e.reason, ...e.details, err: e.message },
      e.reason === 'forbidden'
        ? 'autoscaler is FORBIDDEN to scale the pool: fix the scheduler RBAC (retrying)'
        : 'autoscaler could not scale the pool (retrying)',
    );
  }
}
