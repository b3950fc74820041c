/** What the chaos run reads once everything settled: job states, running tasks, queue leftovers, log lines. */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { keys } from '@visionbatch/shared/redis-keys';
import type { Redis } from 'ioredis';
import type { ApiPollers } from '../loadtest/pollers.ts';
import { CHAOS_WORKSPACE as WS } from './topology.ts';

/** The stored state of a job (`succeeded`, `failed`, `aborted`, …): the wire only says terminal and error. */
export async function jobState(redis: Redis, jobId: string): Promise<string> {
  return (await redis.hget(keys.job(WS, jobId), 'state')) ?? 'missing';
}

/** Tasks of a job whose status reads as running (`statusType: info`), through the public API. */
export async function runningTasks(api: ApiPollers, jobId: string): Promise<number> {
  let running = 0;
  for (const stage of await api.stages(jobId)) {
    let token: string | null = null;
    do {
      const page = `/batch-processing/v1/external/${WS}/jobs/${jobId}/stages/${stage.processingStageId}/tasks`;
      const r = await api.call('GET', `${page}${token ? `?nextPageToken=${token}` : ''}`);
      if (r.status !== 200) throw new Error(`tasks of ${jobId}: ${r.status}`);
      running += (r.json.tasks as Array<{ statusType: string }>).filter(
        (t) => t.statusType === 'info',
      ).length;
      token = r.json.nextPageToken ?? null;
    } while (token);
  }
  return running;
}

/**
 * Keys of terminal jobs' queues still in Redis without a TTL (BullMQ's short-lived markers, such as
 * the stalled-check key a queue worker writes, expire on their own and do not count).
 */
export async function leftQueueKeys(redis: Redis, terminal: ReadonlyMap<string, string>): Promise<string[]> {
  const left: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `{vb}:job.${WS}.*`, 'COUNT', 1000);
    cursor = next;
    for (const k of found) {
      // {vb}:job.<ws>.<jobId>.e<epoch>:<part>
      const jobId = k.split(':')[1].split('.')[2];
      if (terminal.has(jobId) && (await redis.pttl(k)) === -1) left.push(k.slice('{vb}:'.length));
    }
  } while (cursor !== '0');
  return left.sort();
}

/** Tell-tale log lines of the processes, counted: evidence that the fences and the failover did their work. */
const LOG_LINES: Record<string, string> = {
  staleAttemptsStopped: '"stale task attempt stopped"',
  leaderTakeovers: '"this scheduler replica leads"',
  leasesExpired: '"lease expired"',
  workerSchedulerUnreachable: '"scheduler unreachable; retrying"',
  replans: 'unaccounted tasks and an idle queue',
};

export async function observedInLogs(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = Object.fromEntries(Object.keys(LOG_LINES).map((k) => [k, 0]));
  for (const f of await readdir(dir)) {
    const text = await readFile(path.join(dir, f), 'utf8');
    for (const [k, line] of Object.entries(LOG_LINES)) out[k] += text.split(line).length - 1;
  }
  return out;
}
