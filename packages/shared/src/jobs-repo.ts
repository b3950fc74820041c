import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { JOB_KEYS, runScript, type ScriptName } from './lifecycle/scripts.ts';
import {
  isErrorJob,
  isTerminalJob,
  type JobState,
  type Refusal,
  type StageState,
  statusTypeOf,
  type TaskState,
} from './lifecycle/states.ts';
import { offsetFromToken } from './page-token.ts';
import { keys } from './redis-keys.ts';
import type { ModelRecord } from './registry-repo.ts';
import { type Clock, iso } from './time.ts';
import type {
  JobLog,
  JobStageDetails,
  ParametersOverride,
  TaskStatus,
  WorkflowProcessingJob,
} from './wire/batch-processing.ts';

export type { JobState } from './lifecycle/states.ts';

/** The stages a job goes through, in order (spec §3: processing, then export). */
export const STAGES = ['processing', 'export'] as const;
export type StageId = (typeof STAGES)[number];

/** A job as stored. `isTerminal` and `error` are derived from `state`, never stored. */
export interface JobRecord {
  jobId: string;
  workspace: string;
  name: string;
  definition: WorkflowProcessingJob;
  definitionHash: string;
  state: JobState;
  /** fencing epoch: 0 at creation, +1 per restart; writers of an older epoch are refused */
  epoch: number;
  readonly isTerminal: boolean;
  readonly error: boolean;
  currentStage: string | null;
  plannedStages: string[] | null;
  lastNotification: Record<string, unknown> | string | null;
  restartOverrides: ParametersOverride[];
  createdAt: number;
  lastUpdate: number;
  /** when the job last became terminal; null while it runs */
  endedAt: number | null;
  /** ms since epoch after which processing is over budget; null without a timeout */
  deadlineAt: number | null;
  /** log lines dropped because the job's log reached its cap */
  logsDropped: number;
  /** set on the sample job of a cost estimate: what it runs instead of its whole input */
  sample?: JobSample | null;
}

/**
 * What the sample job of a cost estimate (`POST .../jobs/estimate`) runs instead of its whole input
 * batch: a few files spread over the batch, and for videos only the first seconds of each.
 */
export interface JobSample {
  /** files of the input batch to run, in the order the batch lists them */
  files: string[];
  /** videos: seconds from the start of each sample video; null for images */
  videoSeconds: number | null;
  /** videos whose probe (frame count, frame rate) planning stores, for the estimate to count frames */
  probe: string[];
  /** `maxParallelTasks` of the job estimated (the sample job runs on one machine whatever it says) */
  maxParallelTasks: number | null;
}

/** What a job runs, fixed at creation: later registry edits never change a running or restarted job. */
export interface JobSnapshot {
  workflow: Record<string, unknown>;
  /** registry records of every model the workflow names, keyed by the model id as written */
  models: Record<string, ModelRecord>;
}

/** A stage as stored: the wire fields (statusType derived from `state`) plus planning facts. */
export interface StageRecord extends JobStageDetails {
  state: StageState;
  /** images per processing task, fixed at the first plan so that re-plans give the same task ids */
  imagesPerTask?: number;
}

/** A task status as stored: the wire fields (statusType derived from `state`). */
export interface TaskRecord extends TaskStatus {
  state: TaskState;
}

/** What a new job is made of; everything else of a job at creation follows from it. */
export interface NewJob {
  jobId: string;
  workspace: string;
  name: string;
  definition: WorkflowProcessingJob;
  lastNotification: JobRecord['lastNotification'];
  createdAt: number;
  /** a cost estimate's sample job */
  sample?: JobSample | null;
}

/** Who writes: the epoch it acts for, and (scheduler) the leader token it holds. */
export interface Fence {
  epoch: number;
  leaderToken?: string;
}

/** A task attempt's identity for fenced writes. */
export interface TaskAttempt {
  workspace: string;
  jobId: string;
  epoch: number;
  stage: string;
  taskId: string;
  /** BullMQ lock of the attempt; null when the scheduler writes for a task (with its leader token) */
  lock: { key: string; token: string } | null;
  leaderToken?: string;
}

/** Side effects of a job's end, written with the terminal state and carried out by the reaper. */
export interface JobEndedEffects {
  type: 'job-ended';
  workspace: string;
  jobId: string;
  epoch: number;
  state: 'succeeded' | 'failed' | 'aborted';
  /** BullMQ queue names to remove */
  queues: string[];
  /** the job webhook (§4.3); `eventId` stays the same on every redelivery */
  webhook: { url: string; eventId: string; dedupeId: string; body: Record<string, unknown> } | null;
}

/** The answer of a move: it happened, or why it was refused (a stale writer, a lost race). */
export type Moved<T = object> = ({ ok: true } & T) | { ok: false; refusal: Refusal; detail?: string };

/** Canonical JSON (sorted keys) so that identical definitions hash alike whatever the key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function definitionHash(def: unknown): string {
  return createHash('sha256').update(canonicalJson(def)).digest('hex');
}

function decodeJob(h: Record<string, string>): JobRecord {
  const state = h.state as JobState;
  return {
    jobId: h.jobId,
    workspace: h.workspace,
    name: h.name,
    definition: JSON.parse(h.definition),
    definitionHash: h.definitionHash,
    state,
    epoch: Number(h.epoch ?? 0),
    isTerminal: isTerminalJob(state),
    error: isErrorJob(state),
    currentStage: h.currentStage || null,
    plannedStages: JSON.parse(h.plannedStages ?? 'null'),
    lastNotification: JSON.parse(h.lastNotification ?? 'null'),
    restartOverrides: JSON.parse(h.restartOverrides ?? '[]'),
    createdAt: Number(h.createdAt),
    lastUpdate: Number(h.lastUpdate),
    endedAt: h.endedAt ? Number(h.endedAt) : null,
    deadlineAt: h.deadlineAt ? Number(h.deadlineAt) : null,
    logsDropped: Number(h.logsDropped ?? 0),
    sample: h.sample ? (JSON.parse(h.sample) as JobSample) : null,
  };
}

function decodeStage(raw: string): StageRecord {
  const s = JSON.parse(raw) as StageRecord;
  return { ...s, statusType: statusTypeOf(s.state) };
}

function decodeTask(raw: string): TaskRecord {
  const t = JSON.parse(raw) as TaskRecord;
  return { ...t, statusType: statusTypeOf(t.state) };
}

/** The wire form of a stage (§3.5): internal fields left out. */
export function stageWire(s: StageRecord): JobStageDetails {
  const { state: _state, imagesPerTask: _ipt, ...wire } = s;
  return wire;
}

/** The wire form of a task status (§3.6). */
export function taskWire(t: TaskRecord): TaskStatus {
  const { state: _state, ...wire } = t;
  return wire;
}

/**
 * Every key of one job, in the order the job scripts expect (job/_preamble.lua): the job's own keys,
 * the global indexes its moves touch, then six keys per stage.
 */
export function jobKeyBundle(ws: string, jobId: string): string[] {
  const bundle = [
    keys.job(ws, jobId),
    keys.jobSnapshot(ws, jobId),
    keys.jobStages(ws, jobId),
    keys.jobLogs(ws, jobId),
    keys.jobEvents(ws, jobId),
    keys.jobMeter(ws, jobId),
    keys.jobLeases(ws, jobId),
    keys.activeJobs(),
    keys.endedJobs(),
    keys.outbox(),
    keys.outboxDue(),
    keys.schedulerLeader(),
    keys.jobIndex(ws),
  ];
  for (const stage of STAGES)
    bundle.push(
      keys.stageTasks(ws, jobId, stage),
      keys.stageTaskIndex(ws, jobId, stage),
      keys.stageDone(ws, jobId, stage),
      keys.stageFailed(ws, jobId, stage),
      keys.stageRunning(ws, jobId, stage),
      keys.stageCounters(ws, jobId, stage),
    );
  if (bundle.length !== JOB_KEYS) throw new Error('job key bundle out of step with the scripts');
  return bundle;
}

/** Bounds of what one job may keep in Redis. */
export interface JobLimits {
  /** log lines kept per job; further lines are counted in `logsDropped` */
  maxLogLines: number;
  /** approximate length of the job's event stream */
  maxEvents: number;
}

export const DEFAULT_JOB_LIMITS: JobLimits = { maxLogLines: 10_000, maxEvents: 2_000 };

/** An output file a task lists in its stage's output batch when it finishes. */
export interface OutputListing {
  batchId: string;
  part: string;
  files: Array<{ name: string; rec: Record<string, unknown> }>;
}

/** The member of the active/ended indexes for a job. */
const member = (ws: string, jobId: string) => `${ws}/${jobId}`;

function splitMember(m: string): { workspace: string; jobId: string } {
  const i = m.indexOf('/');
  return { workspace: m.slice(0, i), jobId: m.slice(i + 1) };
}

/**
 * Redis repository of jobs, their stages, tasks, logs, events and metering. Reads are plain; every
 * change of state is one script (./lifecycle/commands) that checks the current state and the
 * writer's fences (epoch, leader token, task lock) and answers {@link Moved}. A refused write
 * changes nothing and is reported to `onRefused` (counted as `vb_fenced_writes_total`).
 */
export class JobsRepo {
  private readonly limits: JobLimits;

  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
    limits: Partial<JobLimits> = {},
    private readonly onRefused: (kind: ScriptName, refusal: Refusal) => void = () => {},
  ) {
    this.limits = { ...DEFAULT_JOB_LIMITS, ...limits };
  }

  private async run(
    name: ScriptName,
    ws: string,
    jobId: string,
    fence: { epoch?: number; leaderToken?: string },
    args: ReadonlyArray<string | number>,
    extraKeys: readonly string[] = [],
  ): Promise<Array<string | number>> {
    const now = this.clock.now();
    const res = await runScript<Array<string | number>>(
      this.redis,
      name,
      [...jobKeyBundle(ws, jobId), ...extraKeys],
      [
        now,
        iso(now),
        fence.leaderToken ?? '',
        fence.epoch === undefined ? '' : String(fence.epoch),
        this.limits.maxLogLines,
        this.limits.maxEvents,
        ...args,
      ],
    );
    return res;
  }

  private refused<T>(name: ScriptName, res: Array<string | number>): Moved<T> {
    const refusal = String(res[0]) as Refusal;
    this.onRefused(name, refusal);
    return { ok: false, refusal, detail: res[1] === undefined ? undefined : String(res[1]) };
  }

  /** Stores a new job and its snapshot; if the id exists, says whether the stored definition is the same. */
  async create(rec: NewJob, snapshot: JobSnapshot): Promise<'created' | 'same' | 'different'> {
    const hash = definitionHash(rec.definition);
    // A new job is queued at epoch 0, with no stage yet, the stages of spec §3 planned, no
    // overrides, no deadline (its timeout starts with processing) and nothing logged or ended.
    const fields: Record<string, string> = {
      jobId: rec.jobId,
      workspace: rec.workspace,
      name: rec.name,
      definition: JSON.stringify(rec.definition),
      definitionHash: hash,
      state: 'queued',
      epoch: '0',
      currentStage: '',
      plannedStages: JSON.stringify(STAGES),
      lastNotification: JSON.stringify(rec.lastNotification),
      restartOverrides: '[]',
      createdAt: String(rec.createdAt),
      lastUpdate: String(rec.createdAt),
      endedAt: '',
      deadlineAt: '',
      logsDropped: '0',
      ...(rec.sample ? { sample: JSON.stringify(rec.sample) } : {}),
    };
    const r = await this.run('createJob', rec.workspace, rec.jobId, {}, [
      member(rec.workspace, rec.jobId),
      rec.jobId,
      JSON.stringify(snapshot),
      ...Object.entries(fields).flat(),
    ]);
    if (r[0] === 'created') return 'created';
    return r[1] === hash ? 'same' : 'different';
  }

  async get(ws: string, jobId: string): Promise<JobRecord | null> {
    const h = await this.redis.hgetall(keys.job(ws, jobId));
    return h.jobId ? decodeJob(h) : null;
  }

  async snapshot(ws: string, jobId: string): Promise<JobSnapshot | null> {
    const v = await this.redis.get(keys.jobSnapshot(ws, jobId));
    return v ? (JSON.parse(v) as JobSnapshot) : null;
  }

  async activeJobs(): Promise<Array<{ workspace: string; jobId: string }>> {
    return (await this.redis.smembers(keys.activeJobs())).map(splitMember);
  }

  /** Terminal jobs that ended before `cutoff`, oldest first. */
  async endedBefore(cutoff: number, limit: number): Promise<Array<{ workspace: string; jobId: string }>> {
    const ms = await this.redis.zrangebyscore(keys.endedJobs(), '-inf', String(cutoff), 'LIMIT', 0, limit);
    return ms.map(splitMember);
  }

  /** Jobs newest first; token = offset. */
  async list(
    ws: string,
    token: string | null,
    pageSize: number,
  ): Promise<{ items: JobRecord[]; next: string | null }> {
    const offset = offsetFromToken(token);
    const ids = await this.redis.zrevrange(keys.jobIndex(ws), offset, offset + pageSize);
    const page = ids.slice(0, pageSize);
    const recs = await Promise.all(page.map((id) => this.get(ws, id)));
    return {
      items: recs.filter((r): r is JobRecord => r !== null),
      next: ids.length > pageSize ? String(offset + pageSize) : null,
    };
  }

  // ---- moves of the scheduler ----

  /** Starts (again) the planning of a stage; answers the stage as it was before (null: new). */
  async beginPlan(
    ws: string,
    jobId: string,
    fence: Fence,
    initial: StageRecord,
    deadlineAt: number | null,
    notification: string,
  ): Promise<Moved<{ before: StageRecord | null }>> {
    const r = await this.run('beginPlan', ws, jobId, fence, [
      initial.processingStageId,
      JSON.stringify(initial),
      deadlineAt === null ? '' : String(deadlineAt),
      JSON.stringify(notification),
    ]);
    if (r[0] !== 'ok') return this.refused('beginPlan', r);
    return { ok: true, before: r[1] ? decodeStage(String(r[1])) : null };
  }

  /** A stage's tasks are all queued: planning → running. */
  async endPlan(
    ws: string,
    jobId: string,
    fence: Fence,
    stageId: string,
    tasksNumber: number,
    notification: JobStageDetails['notification'],
    extra: Partial<StageRecord> = {},
  ): Promise<Moved> {
    const r = await this.run('endPlan', ws, jobId, fence, [
      stageId,
      tasksNumber,
      JSON.stringify(notification),
      JSON.stringify(extra),
    ]);
    return r[0] === 'ok' ? { ok: true } : this.refused('endPlan', r);
  }

  /** Updates the progress text of a running stage. */
  async noteStage(
    ws: string,
    jobId: string,
    fence: Fence,
    stageId: string,
    notification: JobStageDetails['notification'],
  ): Promise<Moved> {
    const r = await this.run('noteStage', ws, jobId, fence, [stageId, JSON.stringify(notification)]);
    return r[0] === 'ok' ? { ok: true } : this.refused('noteStage', r);
  }

  /** Ends a running stage whose tasks are all accounted for. `incomplete` is an answer, not a refusal. */
  async completeStage(
    ws: string,
    jobId: string,
    fence: Fence,
    stageId: string,
  ): Promise<
    | Moved<{
        outcome: 'succeeded' | 'failed';
        done: number;
        failed: number;
        filesOk: number;
        filesFailed: number;
      }>
    | { ok: false; refusal: 'incomplete'; done: number; failed: number }
  > {
    const r = await this.run('completeStage', ws, jobId, fence, [stageId]);
    if (r[0] === 'incomplete')
      return { ok: false, refusal: 'incomplete', done: Number(r[1]), failed: Number(r[2]) };
    if (r[0] !== 'ok') return this.refused('completeStage', r);
    return {
      ok: true,
      outcome: r[1] as 'succeeded' | 'failed',
      done: Number(r[2]),
      failed: Number(r[3]),
      filesOk: Number(r[4]),
      filesFailed: Number(r[5]),
    };
  }

  /**
   * Ends a job (terminal state, stage and running tasks closed, effects into the outbox) in one
   * step. Without `fence` anyone may end it (a user's abort); a job that already ended is refused
   * with `job-terminal` and its state in `detail`.
   */
  async endJob(
    ws: string,
    jobId: string,
    end: {
      state: 'succeeded' | 'failed' | 'aborted';
      notification: string;
      log: { type: string; severity: JobLog['severity']; module: string; payload: Record<string, unknown> };
      effects: JobEndedEffects;
      outboxId: string;
    },
    fence: Partial<Fence> = {},
  ): Promise<Moved<{ epoch: number }>> {
    const r = await this.run('endJob', ws, jobId, fence, [
      end.state,
      end.notification,
      end.log.type,
      end.log.severity,
      JSON.stringify(end.log.payload),
      end.outboxId,
      JSON.stringify(end.effects),
      member(ws, jobId),
      end.log.module,
    ]);
    return r[0] === 'ok' ? { ok: true, epoch: Number(r[1]) } : this.refused('endJob', r);
  }

  /** Restarts a failed or aborted job under epoch + 1 with the override appended. */
  async restart(
    ws: string,
    jobId: string,
    override: ParametersOverride,
    deadlineAt: number | null,
  ): Promise<Moved<{ epoch: number; stage: string }>> {
    const r = await this.run('restartJob', ws, jobId, {}, [
      JSON.stringify(override),
      deadlineAt === null ? '' : String(deadlineAt),
      member(ws, jobId),
    ]);
    if (r[0] !== 'ok') return this.refused('restartJob', r);
    return { ok: true, epoch: Number(r[1]), stage: String(r[2]) };
  }

  /** Deletes every key of a job that ended before `cutoff`; answers the epoch it had (for its queues). */
  async collect(ws: string, jobId: string, cutoff: number): Promise<{ collected: boolean; epoch: number }> {
    const r = await this.run('collectJob', ws, jobId, {}, [member(ws, jobId), jobId, cutoff]);
    return { collected: r[0] === 'ok', epoch: Number(r[1] ?? 0) };
  }

  // ---- moves of a task attempt ----

  private attemptArgs(a: TaskAttempt) {
    return {
      fence: { epoch: a.epoch, leaderToken: a.leaderToken },
      lockKey: a.lock ? [a.lock.key] : [keys.job(a.workspace, a.jobId)],
      token: a.lock?.token ?? '',
    };
  }

  private runningStatus(taskId: string, progress: number, note: string): TaskRecord {
    return {
      taskId,
      state: 'running',
      notification: note,
      statusType: 'info',
      progress,
      eventTimestamp: iso(this.clock.now()),
    };
  }

  /** An attempt starts; `task-done` means an earlier attempt already finished the task. */
  async taskStart(a: TaskAttempt, note: string): Promise<Moved> {
    const { fence, lockKey, token } = this.attemptArgs(a);
    const status = this.runningStatus(a.taskId, 0, note);
    const r = await this.run(
      'taskStart',
      a.workspace,
      a.jobId,
      fence,
      [a.stage, a.taskId, token, JSON.stringify(status)],
      lockKey,
    );
    return r[0] === 'ok' ? { ok: true } : this.refused('taskStart', r);
  }

  async taskProgress(a: TaskAttempt, progress: number, note: string): Promise<Moved> {
    const { fence, lockKey, token } = this.attemptArgs(a);
    const status = this.runningStatus(a.taskId, progress, note);
    const r = await this.run(
      'taskProgress',
      a.workspace,
      a.jobId,
      fence,
      [a.stage, a.taskId, token, JSON.stringify(status), progress],
      lockKey,
    );
    return r[0] === 'ok' ? { ok: true } : this.refused('taskProgress', r);
  }

  /**
   * A task ends for good: its status, file counts, the output files it lists in the output batch
   * and its log lines, in one fenced step.
   */
  async taskFinish(
    a: TaskAttempt,
    end: {
      ok: boolean;
      notification: Record<string, unknown> | string;
      files: { ok: number; failed: number };
      outputs?: OutputListing[];
      logs?: Array<Omit<JobLog, 'createdAt'>>;
    },
  ): Promise<Moved> {
    const { fence, lockKey, token } = this.attemptArgs(a);
    const now = iso(this.clock.now());
    const status: TaskRecord = {
      taskId: a.taskId,
      state: end.ok ? 'succeeded' : 'failed',
      notification: end.notification,
      statusType: end.ok ? 'success' : 'error',
      progress: 1,
      eventTimestamp: now,
    };
    const outputs = (end.outputs ?? []).filter((o) => o.files.length > 0);
    const extraKeys = [...lockKey];
    const args: Array<string | number> = [
      a.stage,
      a.taskId,
      token,
      end.ok ? '1' : '0',
      JSON.stringify(status),
      `${end.files.ok},${end.files.failed}`,
      outputs.length,
    ];
    for (const o of outputs) {
      extraKeys.push(
        keys.batchFiles(a.workspace, o.batchId, o.part),
        keys.batchFileMeta(a.workspace, o.batchId, o.part),
      );
      args.push(o.files.length);
      for (const f of o.files) args.push(f.name, JSON.stringify(f.rec));
    }
    const logs = end.logs ?? [];
    args.push(logs.length, ...logs.map((l) => JSON.stringify({ createdAt: now, ...l })));
    const r = await this.run('taskFinish', a.workspace, a.jobId, fence, args, extraKeys);
    return r[0] === 'ok' ? { ok: true } : this.refused('taskFinish', r);
  }

  // ---- reads of stages and tasks ----

  async getStage(ws: string, jobId: string, stageId: string): Promise<StageRecord | null> {
    const v = await this.redis.hget(keys.jobStages(ws, jobId), stageId);
    return v ? decodeStage(v) : null;
  }

  async stages(ws: string, jobId: string): Promise<StageRecord[]> {
    const h = await this.redis.hgetall(keys.jobStages(ws, jobId));
    return Object.values(h)
      .map(decodeStage)
      .sort((a, b) => a.startTimestamp.localeCompare(b.startTimestamp));
  }

  async stageCounts(ws: string, jobId: string, stage: string): Promise<{ done: number; failed: number }> {
    const [done, failed] = await Promise.all([
      this.redis.scard(keys.stageDone(ws, jobId, stage)),
      this.redis.scard(keys.stageFailed(ws, jobId, stage)),
    ]);
    return { done, failed };
  }

  async doneTaskIds(ws: string, jobId: string, stage: string): Promise<Set<string>> {
    return new Set(await this.redis.smembers(keys.stageDone(ws, jobId, stage)));
  }

  async failedTaskIds(ws: string, jobId: string, stage: string): Promise<string[]> {
    return this.redis.smembers(keys.stageFailed(ws, jobId, stage));
  }

  /** Files processed and failed over the stage's tasks (the last attempt of each task counts). */
  async stageFileCounts(ws: string, jobId: string, stage: string): Promise<{ ok: number; failed: number }> {
    const vals = await this.redis.hvals(keys.stageCounters(ws, jobId, stage));
    let ok = 0;
    let failed = 0;
    for (const v of vals) {
      const [a, b] = v.split(',').map(Number);
      ok += a;
      failed += b;
    }
    return { ok, failed };
  }

  /** Task statuses in task-id order, one page read by index (never the whole stage); token = last id. */
  async tasks(
    ws: string,
    jobId: string,
    stage: string,
    token: string | null,
    pageSize: number,
  ): Promise<{ items: TaskRecord[]; next: string | null }> {
    const ids = await this.redis.zrangebylex(
      keys.stageTaskIndex(ws, jobId, stage),
      token ? `(${token}` : '-',
      '+',
      'LIMIT',
      0,
      pageSize + 1,
    );
    const page = ids.slice(0, pageSize);
    const raws = page.length ? await this.redis.hmget(keys.stageTasks(ws, jobId, stage), ...page) : [];
    return {
      items: raws.filter((r): r is string => r !== null).map(decodeTask),
      next: ids.length > pageSize ? (page.at(-1) ?? null) : null,
    };
  }

  /** Ids of a stage's tasks with an attempt running now. */
  async runningTaskIds(ws: string, jobId: string, stage: string): Promise<string[]> {
    return this.redis.smembers(keys.stageRunning(ws, jobId, stage));
  }

  // ---- logs ----

  /** Appends log lines (capped per job) outside any move. */
  async log(ws: string, jobId: string, ...entries: Array<Omit<JobLog, 'createdAt'>>): Promise<void> {
    const createdAt = iso(this.clock.now());
    await this.run(
      'appendLogs',
      ws,
      jobId,
      {},
      entries.map((e) => JSON.stringify({ createdAt, ...e })),
    );
  }

  /**
   * Logs oldest first, optionally of one severity; token = list offset. Reads a bounded number of
   * lines per call whatever the filter, so every call ends quickly.
   */
  async logs(
    ws: string,
    jobId: string,
    severity: string | null,
    token: string | null,
    pageSize: number,
  ): Promise<{ items: JobLog[]; next: string | null }> {
    const offset = offsetFromToken(token);
    const key = keys.jobLogs(ws, jobId);
    const total = await this.redis.llen(key);
    const items: JobLog[] = [];
    const scanLimit = offset + Math.max(pageSize * 10, 1000);
    let at = Math.max(0, offset);
    while (items.length < pageSize && at < total && at < scanLimit) {
      const chunk = await this.redis.lrange(key, at, at + pageSize - 1);
      if (chunk.length === 0) break;
      for (const raw of chunk) {
        at++;
        const e = JSON.parse(raw) as JobLog;
        if (!severity || e.severity === severity) items.push(e);
        if (items.length >= pageSize) break;
      }
    }
    return { items, next: at < total ? String(at) : null };
  }

  /** Events of a job after `afterId` (a stream id; '0' from the start), oldest first. */
  async events(
    ws: string,
    jobId: string,
    afterId: string,
    count: number,
  ): Promise<Array<{ id: string; type: string; data: string }>> {
    const from = afterId === '0' ? '-' : `(${afterId}`;
    const res = await this.redis.xrange(keys.jobEvents(ws, jobId), from, '+', 'COUNT', count);
    return res.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
      return { id, type: f.type, data: f.data };
    });
  }

  // ---- metering ----

  async meter(ws: string, jobId: string): Promise<{ cpuMs: number; gpuMs: number }> {
    const h = await this.redis.hgetall(keys.jobMeter(ws, jobId));
    return { cpuMs: Number(h.cpu ?? 0), gpuMs: Number(h.gpu ?? 0) };
  }
}
