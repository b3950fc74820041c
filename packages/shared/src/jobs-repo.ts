import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { offsetFromToken } from './page-token.ts';
import { keys } from './redis-keys.ts';
import { type Clock, iso } from './time.ts';
import type {
  JobLog,
  JobStageDetails,
  ParametersOverride,
  TaskStatus,
  WorkflowProcessingJob,
} from './wire/batch-processing.ts';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'aborted';

/** A job as stored. */
export interface JobRecord {
  jobId: string;
  workspace: string;
  name: string;
  definition: WorkflowProcessingJob;
  definitionHash: string;
  state: JobState;
  currentStage: string | null;
  plannedStages: string[] | null;
  error: boolean;
  isTerminal: boolean;
  lastNotification: Record<string, unknown> | string | null;
  restartOverrides: ParametersOverride[];
  createdAt: number;
  lastUpdate: number;
  /** ms since epoch after which processing is over budget; null without a timeout */
  deadlineAt: number | null;
}

/** A stage as stored: the wire fields plus whether planning finished (internal, not sent). */
export interface StageRecord extends JobStageDetails {
  planComplete?: boolean;
}

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

const JSON_FIELDS = [
  'definition',
  'plannedStages',
  'lastNotification',
  'restartOverrides',
  'currentStage',
  'deadlineAt',
] as const;

function encode(rec: Partial<JobRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (v === undefined) continue;
    out[k] = (JSON_FIELDS as readonly string[]).includes(k)
      ? JSON.stringify(v)
      : typeof v === 'boolean'
        ? v
          ? '1'
          : '0'
        : String(v);
  }
  return out;
}

function decode(h: Record<string, string>): JobRecord {
  return {
    jobId: h.jobId,
    workspace: h.workspace,
    name: h.name,
    definition: JSON.parse(h.definition),
    definitionHash: h.definitionHash,
    state: h.state as JobState,
    currentStage: JSON.parse(h.currentStage ?? 'null'),
    plannedStages: JSON.parse(h.plannedStages ?? 'null'),
    error: h.error === '1',
    isTerminal: h.isTerminal === '1',
    lastNotification: JSON.parse(h.lastNotification ?? 'null'),
    restartOverrides: JSON.parse(h.restartOverrides ?? '[]'),
    createdAt: Number(h.createdAt),
    lastUpdate: Number(h.lastUpdate),
    deadlineAt: JSON.parse(h.deadlineAt ?? 'null'),
  };
}

// Create-if-absent: returns 'created', or the stored definition hash for the caller to compare.
const CREATE_JOB = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HGET', KEYS[1], 'definitionHash')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[2])
return 'created'
`;

/** Redis repository of jobs, their stages, tasks, logs and metering. */
export class JobsRepo {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
  ) {}

  /** Stores a new job; if the id exists, says whether the stored definition is the same. */
  async create(rec: JobRecord): Promise<'created' | 'same' | 'different'> {
    const fields = Object.entries(encode(rec)).flat();
    const r = (await this.redis.eval(
      CREATE_JOB,
      3,
      keys.job(rec.workspace, rec.jobId),
      keys.jobIndex(rec.workspace),
      keys.activeJobs(),
      String(rec.createdAt),
      `${rec.workspace}/${rec.jobId}`,
      rec.jobId,
      ...fields,
    )) as string;
    if (r === 'created') return 'created';
    return r === rec.definitionHash ? 'same' : 'different';
  }

  async get(ws: string, jobId: string): Promise<JobRecord | null> {
    const h = await this.redis.hgetall(keys.job(ws, jobId));
    return h.jobId ? decode(h) : null;
  }

  async update(ws: string, jobId: string, patch: Partial<JobRecord>): Promise<void> {
    await this.redis.hset(keys.job(ws, jobId), encode({ ...patch, lastUpdate: this.clock.now() }));
  }

  /** Marks a job terminal and takes it off the active set, in one transaction. */
  async finish(
    ws: string,
    jobId: string,
    state: 'succeeded' | 'failed' | 'aborted',
    notification: string,
  ): Promise<void> {
    await this.redis
      .multi()
      .hset(
        keys.job(ws, jobId),
        encode({
          state,
          isTerminal: true,
          error: state !== 'succeeded',
          lastNotification: notification,
          lastUpdate: this.clock.now(),
        }),
      )
      .srem(keys.activeJobs(), `${ws}/${jobId}`)
      .exec();
  }

  async reactivate(ws: string, jobId: string, patch: Partial<JobRecord>): Promise<void> {
    await this.redis
      .multi()
      .hset(keys.job(ws, jobId), encode({ ...patch, lastUpdate: this.clock.now() }))
      .sadd(keys.activeJobs(), `${ws}/${jobId}`)
      .exec();
  }

  async activeJobs(): Promise<Array<{ workspace: string; jobId: string }>> {
    const members = await this.redis.smembers(keys.activeJobs());
    return members.map((m) => {
      const i = m.indexOf('/');
      return { workspace: m.slice(0, i), jobId: m.slice(i + 1) };
    });
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

  // ---- stages ----

  async putStage(ws: string, jobId: string, stage: StageRecord): Promise<void> {
    await this.redis.hset(keys.jobStages(ws, jobId), stage.processingStageId, JSON.stringify(stage));
  }

  async getStage(ws: string, jobId: string, stageId: string): Promise<StageRecord | null> {
    const v = await this.redis.hget(keys.jobStages(ws, jobId), stageId);
    return v ? (JSON.parse(v) as StageRecord) : null;
  }

  async stages(ws: string, jobId: string): Promise<StageRecord[]> {
    const h = await this.redis.hgetall(keys.jobStages(ws, jobId));
    return Object.values(h)
      .map((v) => JSON.parse(v) as StageRecord)
      .sort((a, b) => a.startTimestamp.localeCompare(b.startTimestamp));
  }

  // ---- tasks ----

  /** Records a task's running state (progress set, so the CLI counts it as registered). */
  async taskProgress(
    ws: string,
    jobId: string,
    stage: string,
    taskId: string,
    progress: number,
    note: string,
  ): Promise<void> {
    const st: TaskStatus = {
      taskId,
      notification: note,
      statusType: 'info',
      progress,
      eventTimestamp: iso(this.clock.now()),
    };
    await this.redis.hset(keys.stageTasks(ws, jobId, stage), taskId, JSON.stringify(st));
  }

  /** Records a task's final state and adds it to the stage's done or failed set, atomically. */
  async taskFinished(
    ws: string,
    jobId: string,
    stage: string,
    taskId: string,
    ok: boolean,
    notification: Record<string, unknown> | string,
    files: { ok: number; failed: number },
  ): Promise<void> {
    const st: TaskStatus = {
      taskId,
      notification,
      statusType: ok ? 'success' : 'error',
      progress: 1,
      eventTimestamp: iso(this.clock.now()),
    };
    const m = this.redis.multi().hset(keys.stageTasks(ws, jobId, stage), taskId, JSON.stringify(st));
    if (ok) m.sadd(keys.stageDone(ws, jobId, stage), taskId).srem(keys.stageFailed(ws, jobId, stage), taskId);
    else m.sadd(keys.stageFailed(ws, jobId, stage), taskId).srem(keys.stageDone(ws, jobId, stage), taskId);
    m.hset(keys.stageCounters(ws, jobId, stage), `task:${taskId}`, `${files.ok},${files.failed}`);
    await m.exec();
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

  async clearFailed(ws: string, jobId: string, stage: string): Promise<void> {
    await this.redis.del(keys.stageFailed(ws, jobId, stage));
  }

  /** Files processed and failed over the stage's tasks (latest attempt of each task counts). */
  async stageFileCounts(ws: string, jobId: string, stage: string): Promise<{ ok: number; failed: number }> {
    const h = await this.redis.hgetall(keys.stageCounters(ws, jobId, stage));
    let ok = 0;
    let failed = 0;
    for (const [k, v] of Object.entries(h)) {
      if (!k.startsWith('task:')) continue;
      const [a, b] = v.split(',').map(Number);
      ok += a;
      failed += b;
    }
    return { ok, failed };
  }

  /** Task statuses in task-id order; token = the last task id of the previous page. */
  async tasks(
    ws: string,
    jobId: string,
    stage: string,
    token: string | null,
    pageSize: number,
  ): Promise<{ items: TaskStatus[]; next: string | null }> {
    const h = await this.redis.hgetall(keys.stageTasks(ws, jobId, stage));
    const ids = Object.keys(h)
      .sort()
      .filter((id) => !token || id > token);
    const page = ids.slice(0, pageSize);
    return {
      items: page.map((id) => JSON.parse(h[id]) as TaskStatus),
      next: ids.length > pageSize ? (page.at(-1) ?? null) : null,
    };
  }

  // ---- logs ----

  async log(ws: string, jobId: string, entry: Omit<JobLog, 'createdAt'>): Promise<void> {
    await this.redis.rpush(
      keys.jobLogs(ws, jobId),
      JSON.stringify({ createdAt: iso(this.clock.now()), ...entry }),
    );
  }

  /** Logs oldest first, optionally one severity; token = list offset. */
  async logs(
    ws: string,
    jobId: string,
    severity: string | null,
    token: string | null,
    pageSize: number,
  ): Promise<{ items: JobLog[]; next: string | null }> {
    let offset = offsetFromToken(token);
    const items: JobLog[] = [];
    const total = await this.redis.llen(keys.jobLogs(ws, jobId));
    while (items.length < pageSize && offset < total) {
      const chunk = await this.redis.lrange(keys.jobLogs(ws, jobId), offset, offset + pageSize - 1);
      for (const raw of chunk) {
        offset++;
        const e = JSON.parse(raw) as JobLog;
        if (!severity || e.severity === severity) items.push(e);
        if (items.length >= pageSize) break;
      }
    }
    return { items, next: offset < total ? String(offset) : null };
  }

  // ---- metering ----

  async meter(ws: string, jobId: string): Promise<{ cpuMs: number; gpuMs: number }> {
    const h = await this.redis.hgetall(keys.jobMeter(ws, jobId));
    return { cpuMs: Number(h.cpu ?? 0), gpuMs: Number(h.gpu ?? 0) };
  }
}
