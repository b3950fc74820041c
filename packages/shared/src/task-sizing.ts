/**
 * Images per processing task. A job should keep every slot it may use busy: with S slots
 * (`workersPerMachine` × the machines it may hold, capped by `maxParallelTasks`) a job of N images
 * gets tasks of ceil(N / S) images, so a 24-image job on one 2-slot machine runs as 2+ tasks rather
 * than one task on one slot; large jobs keep the upper bound (256 by default, the spec's shard size),
 * which bounds a retry's cost and a results file's size.
 */
export function imagesPerTask(opts: {
  files: number;
  workersPerMachine: number;
  /** machines of the pool the job may hold at once */
  machines: number;
  maxParallelTasks: number | null;
  /** upper bound (VB_IMAGES_PER_TASK) */
  max: number;
}): number {
  const slotsOnMachines = Math.max(1, opts.workersPerMachine) * Math.max(1, opts.machines);
  const slots = opts.maxParallelTasks ? Math.min(opts.maxParallelTasks, slotsOnMachines) : slotsOnMachines;
  return Math.min(opts.max, Math.max(1, Math.ceil(opts.files / slots)));
}
