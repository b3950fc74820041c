/**
 * The cost of a whole job predicted from its sample job (pure). The sample ran a few files (or the
 * first seconds of a video) on ONE machine, as the real job would, and its machine reported:
 *
 * - the fixed start-up of a machine: loading the job's models into every slot (`startupMs`);
 * - per task, the wall time of each unit (an image, or a processed video frame) in the slot: the
 *   first unit of a task (nothing to overlap its fetch and decode with) apart from the rest (the
 *   next unit's fetch overlaps the current one's inference), and the whole task (`taskMs`: what
 *   is not units is the task's own overhead: its moves, reading and writing its files).
 *
 * A task of k units then takes `overhead + first + (k − 1) × rest` on one slot; the job's tasks
 * (sized as the planner sizes them) are laid onto `machines × slots` slots longest first, which
 * gives the processing wall time. Every machine that serves the job is billed from its lease to the
 * end of processing (machines stay until the queue is empty), and pays one start-up. What the
 * sample job cost beyond its own processing (planning, start-up, the export stage, the drain at the
 * end) is carried over as it was measured.
 */

/** One processing task of the sample job, as its machine measured it. */
export interface TaskTiming {
  /** units (images or processed frames) the task ran */
  units: number;
  /** the whole task in its slot, from its start to its results written */
  taskMs: number;
  /** its first unit */
  firstMs: number;
  /** its other units, summed */
  restMs: number;
  /** fastest and slowest unit */
  minMs: number;
  maxMs: number;
}

/** What the sample job measured. */
export interface SampleMeasurement {
  pool: 'cpu' | 'gpu';
  /** slots of the machine that ran the sample */
  slotsPerMachine: number;
  /** mean model loading time of the sample's machines */
  startupMs: number;
  tasks: readonly TaskTiming[];
  /** from the start of its first processing task to the end of its last */
  processingSpanMs: number;
  /** machine time billed to the sample job */
  billedMs: { cpu: number; gpu: number };
  /** from the sample job's creation to its end */
  wallMs: number;
}

/** The predicted cost of the whole job. */
export interface Prediction {
  machinesUsed: number;
  tasks: number;
  units: number;
  perUnitMs: { mean: number; min: number; max: number };
  startupMs: number;
  taskOverheadMs: number;
  /** machine time by pool */
  machineMs: { cpu: number; gpu: number };
  credits: number;
  wallMs: number;
}

const sum = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0);

/** Per-unit and per-task costs of one slot, from the sample's tasks. */
export function unitCosts(tasks: readonly TaskTiming[]): {
  firstMs: number;
  restMs: number;
  overheadMs: number;
  perUnitMs: Prediction['perUnitMs'];
} {
  const ran = tasks.filter((t) => t.units > 0);
  if (ran.length === 0) throw new Error('the sample ran no unit');
  const firstMs = sum(ran.map((t) => t.firstMs)) / ran.length;
  const restUnits = sum(ran.map((t) => t.units - 1));
  const restMs = restUnits > 0 ? sum(ran.map((t) => t.restMs)) / restUnits : firstMs;
  const overheadMs = sum(ran.map((t) => Math.max(0, t.taskMs - t.firstMs - t.restMs))) / ran.length;
  return {
    firstMs,
    restMs,
    overheadMs,
    perUnitMs: {
      mean: sum(ran.map((t) => t.firstMs + t.restMs)) / sum(ran.map((t) => t.units)),
      min: Math.min(...ran.map((t) => t.minMs)),
      max: Math.max(...ran.map((t) => t.maxMs)),
    },
  };
}

/** Wall time of tasks of the given durations on `slots` slots, each task to the least busy slot, longest first. */
export function makespan(durationsMs: readonly number[], slots: number): number {
  const load = new Array<number>(Math.max(1, slots)).fill(0);
  for (const d of [...durationsMs].sort((a, b) => b - a)) {
    let i = 0;
    for (let j = 1; j < load.length; j++) if (load[j] < load[i]) i = j;
    load[i] += d;
  }
  return Math.max(...load);
}

/**
 * The whole job's cost: `taskUnits` holds the units of each of its processing tasks, `machines`
 * the machines it may hold.
 */
export function predictJob(
  m: SampleMeasurement,
  taskUnits: readonly number[],
  machines: number,
  creditsPerHour: { cpu: number; gpu: number },
): Prediction {
  const c = unitCosts(m.tasks);
  const slots = Math.max(1, m.slotsPerMachine);
  const machinesUsed = Math.max(1, Math.min(machines, Math.ceil(taskUnits.length / slots)));
  const durations = taskUnits.map((k) => c.overheadMs + (k > 0 ? c.firstMs + (k - 1) * c.restMs : 0));
  const processingMs = makespan(durations, machinesUsed * slots);
  const sampleBilledMs = m.billedMs.cpu + m.billedMs.gpu;
  // the sample's machine time besides its processing: start-up, planning gaps, export, drain
  const fixedMs = Math.max(0, sampleBilledMs - m.processingSpanMs);
  const totalMs = fixedMs + (machinesUsed - 1) * m.startupMs + machinesUsed * processingMs;
  const wallMs = Math.max(0, m.wallMs - m.processingSpanMs) + processingMs;
  return {
    machinesUsed,
    tasks: taskUnits.length,
    units: sum(taskUnits),
    perUnitMs: c.perUnitMs,
    startupMs: m.startupMs,
    taskOverheadMs: c.overheadMs,
    machineMs: { cpu: m.pool === 'cpu' ? totalMs : 0, gpu: m.pool === 'gpu' ? totalMs : 0 },
    credits: creditsOf(totalMs, m.pool, creditsPerHour),
    wallMs,
  };
}

/** Credits of `ms` machine-milliseconds of a pool. */
export function creditsOf(
  ms: number,
  pool: 'cpu' | 'gpu',
  creditsPerHour: { cpu: number; gpu: number },
): number {
  return (ms / 3_600_000) * creditsPerHour[pool];
}
