/**
 * The chaos schedule: a seeded, reproducible list of faults (which process, when, how, for how
 * long). The same seed and options always give the same list, so a failing run can be replayed.
 */
import { Rng } from '@visionbatch/models';

/** Kinds of process the chaos run kills. */
export type ProcessKind = 'worker' | 'scheduler' | 'api' | 'redis';

/** How a process is stopped: SIGKILL (a crash), or for Redis also SHUTDOWN (a clean stop, AOF flushed). */
export type FaultAction = 'sigkill' | 'shutdown';

export interface ChaosEvent {
  /** ms after the chaos started */
  atMs: number;
  /** process name, e.g. `worker-2` */
  target: string;
  kind: ProcessKind;
  action: FaultAction;
  /** how long the process stays down before it is started again */
  downMs: number;
}

export interface ScheduleOptions {
  seed: number;
  durationMs: number;
  /** mean time between two faults */
  meanIntervalMs: number;
  targets: ReadonlyArray<{ name: string; kind: ProcessKind }>;
  /** relative weight of each kind when a fault picks its target (default: workers most often) */
  weights?: Partial<Record<ProcessKind, number>>;
}

export const DEFAULT_WEIGHTS: Record<ProcessKind, number> = { worker: 4, scheduler: 3, api: 1.5, redis: 2 };

/** Down time range per kind, ms: long enough to matter (leases, locks, leader TTL), short enough to recover. */
const DOWN_MS: Record<ProcessKind, [number, number]> = {
  worker: [300, 3000],
  scheduler: [300, 4000],
  api: [300, 2000],
  redis: [500, 4000],
};

/** The kind whose share of the cumulative weights `u` (in [0, total)) falls into. */
function weightedPick(kinds: ProcessKind[], weights: Record<ProcessKind, number>, u: number): ProcessKind {
  let left = u;
  for (const k of kinds) {
    left -= weights[k];
    if (left < 0) return k;
  }
  return kinds[kinds.length - 1];
}

/** The faults of one run, in time order. */
export function chaosSchedule(o: ScheduleOptions): ChaosEvent[] {
  const rng = new Rng(o.seed);
  const weights = { ...DEFAULT_WEIGHTS, ...o.weights };
  const kinds = [...new Set(o.targets.map((t) => t.kind))].filter((k) => weights[k] > 0);
  const total = kinds.reduce((s, k) => s + weights[k], 0);
  const events: ChaosEvent[] = [];
  if (kinds.length === 0) return events;
  // Gaps uniform in [0.25, 1.75] × the mean: irregular, but never two faults in the same instant.
  for (let at = o.meanIntervalMs * rng.uniform(0.25, 1.75); at < o.durationMs; ) {
    const kind = weightedPick(kinds, weights, rng.uniform(0, total));
    const target = rng.pick(o.targets.filter((t) => t.kind === kind));
    const [lo, hi] = DOWN_MS[kind];
    events.push({
      atMs: Math.round(at),
      target: target.name,
      kind,
      action: kind === 'redis' && rng.next() < 0.5 ? 'shutdown' : 'sigkill',
      downMs: Math.round(rng.uniform(lo, hi)),
    });
    at += o.meanIntervalMs * rng.uniform(0.25, 1.75);
  }
  return events;
}
