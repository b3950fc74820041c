import type { Redis } from 'ioredis';
import type { JobRecord } from './jobs-repo.ts';
import type { JobState, StageState } from './lifecycle/states.ts';
import { keys } from './redis-keys.ts';
import { iso } from './time.ts';

/**
 * A job's `progress` and `estimatedCompletion` (visionbatch extensions of the job details, which
 * Roboflow's client ignores). Pure: {@link readProgressFacts} gathers the facts from Redis.
 */

/**
 * Share of a job's work per stage. Export only packs the result files of processing into archives,
 * a small part of a job's machine time; a stage not listed here gets an equal share.
 */
export const STAGE_WEIGHTS: Readonly<Record<string, number>> = { processing: 0.9, export: 0.1 };

const DEFAULT_STAGES = ['processing', 'export'];

/** One stage as far as progress goes. */
export interface StageFacts {
  id: string;
  state: StageState;
  tasksNumber: number;
  /** tasks finished for good (succeeded or failed) */
  finished: number;
  /** the summed progress (0..1 each) of the tasks running now */
  runningProgress: number;
}

/** What {@link jobProgress} needs to know of a job. */
export interface ProgressFacts {
  state: JobState;
  /** ms; set once the job ended */
  endedAt: number | null;
  plannedStages: readonly string[] | null;
  stages: readonly StageFacts[];
  /** machine time billed to the job so far, ms: closed leases plus the open ones up to `now` */
  machineMs: number;
  /** machines that hold the job now */
  machinesHeld: number;
  now: number;
}

export interface JobProgress {
  /** 0..1 over the job's stages, weighted by {@link STAGE_WEIGHTS}; 1 once it succeeded */
  progress: number;
  /** ISO time the job should end (the time it ended, once it has); null while unknown */
  estimatedCompletion: string | null;
}

function stageFraction(s: StageFacts): number {
  if (s.state === 'succeeded') return 1;
  if (s.tasksNumber <= 0) return 0;
  return Math.min(1, (s.finished + s.runningProgress) / s.tasksNumber);
}

/** Progress of a job over all its planned stages, 0..1 (rounded to 1e-4). */
export function progressOf(f: Pick<ProgressFacts, 'state' | 'plannedStages' | 'stages'>): number {
  if (f.state === 'succeeded') return 1;
  const planned = f.plannedStages?.length ? f.plannedStages : DEFAULT_STAGES;
  const weights = planned.map((id) => STAGE_WEIGHTS[id] ?? 1 / planned.length);
  const total = weights.reduce((a, w) => a + w, 0);
  let done = 0;
  planned.forEach((id, i) => {
    const s = f.stages.find((x) => x.id === id);
    if (s) done += weights[i] * stageFraction(s);
  });
  return Math.round(Math.min(1, Math.max(0, done / total)) * 10_000) / 10_000;
}

/**
 * Progress and estimated completion. The estimate extrapolates the job's measured throughput: the
 * progress made per machine-millisecond billed so far, times the machines it holds now (at least
 * one: a job waiting for a machine gets one eventually). Model loading and other start-up time are
 * part of what was billed, so early estimates lean late and sharpen as the job runs. Unknown (null)
 * until the job made measurable progress on a metered machine.
 */
export function jobProgress(f: ProgressFacts): JobProgress {
  const progress = progressOf(f);
  if (f.state === 'succeeded' || f.state === 'failed' || f.state === 'aborted')
    return { progress, estimatedCompletion: f.endedAt === null ? null : iso(f.endedAt) };
  if (progress <= 0 || f.machineMs <= 0) return { progress, estimatedCompletion: null };
  const perMachineMs = progress / f.machineMs;
  const remainingMs = (1 - progress) / (perMachineMs * Math.max(1, f.machinesHeld));
  // whole seconds: the estimate is not finer than that, and clients see it move less
  return { progress, estimatedCompletion: iso(Math.ceil((f.now + remainingMs) / 1000) * 1000) };
}

/**
 * Reads the facts of {@link jobProgress} for one job in two round trips, whatever the size of the
 * job: counts of finished tasks, and only the running tasks (at most the machines' slots) read.
 */
export async function readProgressFacts(redis: Redis, rec: JobRecord, now: number): Promise<ProgressFacts> {
  const { workspace: ws, jobId } = rec;
  const planned = rec.plannedStages?.length ? rec.plannedStages : DEFAULT_STAGES;
  const first = redis.pipeline();
  first.hgetall(keys.jobStages(ws, jobId));
  first.hgetall(keys.jobMeter(ws, jobId));
  first.smembers(keys.jobLeases(ws, jobId));
  for (const stage of planned) {
    first.scard(keys.stageDone(ws, jobId, stage));
    first.scard(keys.stageFailed(ws, jobId, stage));
    first.smembers(keys.stageRunning(ws, jobId, stage));
  }
  const r = (await first.exec()) ?? [];
  const value = <T>(i: number): T => {
    const [err, v] = r[i] ?? [null, null];
    if (err) throw err;
    return v as T;
  };
  const stageRecs = value<Record<string, string>>(0);
  const meter = value<Record<string, string>>(1);
  const leaseIds = value<string[]>(2);
  const running = planned.map((_, i) => value<string[]>(3 + i * 3 + 2));
  const second = redis.pipeline();
  for (const id of leaseIds) second.hget(keys.lease(id), 'startedAt');
  planned.forEach((stage, i) => {
    if (running[i].length) second.hmget(keys.stageTasks(ws, jobId, stage), ...running[i]);
  });
  const r2 = (await second.exec()) ?? [];
  let at = 0;
  let openMs = 0;
  let machinesHeld = 0;
  for (const _ of leaseIds) {
    const started = Number(r2[at++]?.[1]);
    if (!Number.isFinite(started) || started <= 0) continue;
    machinesHeld++;
    openMs += Math.max(0, now - started);
  }
  const stages: StageFacts[] = [];
  planned.forEach((stage, i) => {
    const raw = stageRecs[stage];
    let runningProgress = 0;
    if (running[i].length) {
      for (const t of (r2[at++]?.[1] as Array<string | null>) ?? []) {
        const p = t ? Number((JSON.parse(t) as { progress?: number | null }).progress ?? 0) : 0;
        runningProgress += Number.isFinite(p) ? Math.min(1, Math.max(0, p)) : 0;
      }
    }
    if (!raw) return;
    const s = JSON.parse(raw) as { state: StageState; tasksNumber: number };
    stages.push({
      id: stage,
      state: s.state,
      tasksNumber: s.tasksNumber,
      finished: value<number>(3 + i * 3) + value<number>(3 + i * 3 + 1),
      runningProgress,
    });
  });
  return {
    state: rec.state,
    endedAt: rec.endedAt,
    plannedStages: rec.plannedStages,
    stages,
    machineMs: Number(meter.cpu ?? 0) + Number(meter.gpu ?? 0) + openMs,
    machinesHeld,
    now,
  };
}
