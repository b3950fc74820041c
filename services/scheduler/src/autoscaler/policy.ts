/**
 * The autoscaler's sizing policy, pure so that it can be tested on simulated workloads.
 * A pool's size follows the remaining work of its running jobs: for each job, the machines
 * needed to drain its remaining files within the target drain time at the measured per-machine
 * throughput, at least one while it has work, capped by its `maxParallelTasks / workersPerMachine`
 * and by its remaining tasks; summed over jobs and clamped to the pool's min/max. Scaling down
 * never removes a machine that holds a lease (busy machines are a floor) and waits for a cooldown
 * after the last change, so short gaps between stages do not flap the pool.
 */

export interface JobWork {
  /** tasks not yet finished (waiting or running) */
  remainingTasks: number;
  /** files (images or sampled frames) left in those tasks */
  remainingFiles: number;
  workersPerMachine: number;
  maxParallelTasks: number | null;
}

export interface PoolState {
  min: number;
  max: number;
  /** machines alive now */
  current: number;
  /** machines holding a lease now (never removed by a scale-down) */
  busy: number;
  /** when the size last changed, ms */
  lastChangeAt: number;
}

export interface PolicyOptions {
  /** how fast we want queued work done */
  targetDrainSeconds: number;
  /** files per second one machine processes (measured; a default before the first measurement) */
  filesPerMachineSecond: number;
  /** minimum time between a change and a scale-down */
  scaleDownCooldownMs: number;
}

/** Machines one job can use. */
export function machinesForJob(job: JobWork, opts: PolicyOptions): number {
  if (job.remainingTasks <= 0) return 0;
  const wpm = Math.max(1, job.workersPerMachine);
  const byVolume = Math.ceil(
    job.remainingFiles / Math.max(1e-9, opts.filesPerMachineSecond * opts.targetDrainSeconds),
  );
  const byTasks = Math.ceil(job.remainingTasks / wpm);
  const byCap = job.maxParallelTasks
    ? Math.max(1, Math.ceil(job.maxParallelTasks / wpm))
    : Number.POSITIVE_INFINITY;
  return Math.max(1, Math.min(byVolume, byTasks, byCap));
}

/** The desired size of a pool. */
export function desiredPoolSize(
  jobs: readonly JobWork[],
  pool: PoolState,
  opts: PolicyOptions,
  now: number,
): number {
  const wanted = jobs.reduce((sum, j) => sum + machinesForJob(j, opts), 0);
  const clamped = Math.min(pool.max, Math.max(pool.min, wanted));
  if (clamped >= pool.current) return clamped;
  // Scaling down: not during the cooldown, and never below the machines holding leases.
  if (now - pool.lastChangeAt < opts.scaleDownCooldownMs) return pool.current;
  return Math.max(clamped, Math.min(pool.busy, pool.max));
}
