/**
 * The job event stream route over real HTTP and real Redis (the api in-process, job moves made by
 * the repository as the scheduler and workers make them): replay, live follow, resume after
 * `Last-Event-ID`, the gap event past the capped stream, heartbeats, the idle close, the cap on
 * streams, and one Redis connection for all followers.
 */
import type { AddressInfo } from 'node:net';
import { ApiClient } from '@visionbatch/cli/api-client';
import { type JobEvent, readJobEvents } from '@visionbatch/cli/job-events';
import { keys } from '@visionbatch/shared/redis-keys';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import { createPlannedJob, endJobAsLeader, imageJobDefinition } from '../support/job-fixtures.ts';
import { type AppHarness, startApiHarness } from './app-harness.ts';

const WS = 'ws-a';

async function start(env: Record<string, string> = {}): Promise<{ h: AppHarness; client: ApiClient }> {
  await flushRedisTestDb();
  const h = await startApiHarness({
    redisUrl: redisTestUrl(),
    store: { driver: 'fs', dir: await useTempDir() },
    env,
  });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = h.app.server.address() as AddressInfo;
  return { h, client: new ApiClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'key-a' }) };
}

const log = (h: AppHarness, jobId: string, n: number) =>
  h.deps.jobs.log(WS, jobId, {
    processingStageId: null,
    taskId: null,
    severity: 'info',
    reportingModule: 'test',
    logType: 'line',
    payload: { n },
  });

const planned = (h: AppHarness, jobId: string) =>
  createPlannedJob(h.deps.jobs, h.redis, {
    ws: WS,
    jobId,
    definition: imageJobDefinition(WS, 'b'),
    createdAt: Date.now(),
    tasksNumber: 2,
  });

/** Reads a stream until it ends, or until `until` says stop (then aborts it). */
async function collect(
  client: ApiClient,
  jobId: string,
  o: { lastEventId?: string; until?: (e: JobEvent, all: JobEvent[]) => boolean } = {},
): Promise<JobEvent[]> {
  const ac = new AbortController();
  const out: JobEvent[] = [];
  for await (const e of readJobEvents(client, jobId, { lastEventId: o.lastEventId, signal: ac.signal })) {
    out.push(e);
    if (o.until?.(e, out)) {
      ac.abort();
      break;
    }
  }
  return out;
}

/** Clients connected to this test's Redis database. */
async function clientsOnDb(redis: Redis): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').filter((l) => l.includes(` db=${redisTestDb()} `)).length;
}

describe('GET /batch-processing/v1/external/{ws}/jobs/{jobId}/events', () => {
  let h: AppHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('replays from the start, follows live, and closes after the terminal event', async () => {
    const s = await start();
    h = s.h;
    const rec = await planned(h, 'job-1');
    await log(h, 'job-1', 1);
    const reading = collect(s.client, 'job-1');
    // live: written while the stream follows
    await waitFor(async () => s.h.deps.events.streams === 1, { timeoutMs: 5000, intervalMs: 20 });
    await log(h, 'job-1', 2);
    await endJobAsLeader(h.deps.jobs, rec, 'succeeded');
    const events = await reading;
    const stored = await h.deps.jobs.events(WS, 'job-1', '0', 1000);
    const withIds = events.filter((e) => e.id !== null);
    expect(withIds.map((e) => e.id)).toEqual(stored.map((e) => e.id));
    expect(withIds.map((e) => e.event)).toEqual(stored.map((e) => e.type));
    expect(events.map((e) => e.event).slice(0, 3)).toEqual(['state', 'stage', 'state']);
    expect(events.filter((e) => e.event === 'log').map((e) => e.data.payload)).toContainEqual({ n: 2 });
    const last = events.at(-1) as JobEvent;
    expect(last).toMatchObject({ id: null, event: 'terminal' });
    expect(last.data).toMatchObject({
      jobId: 'job-1',
      state: 'succeeded',
      error: false,
      isTerminal: true,
      progress: 1,
    });
    expect(events.at(-2)).toMatchObject({ event: 'state', data: { state: 'succeeded', terminal: true } });
    await waitFor(async () => s.h.deps.events.streams === 0, { timeoutMs: 5000, intervalMs: 20 });
  });

  it('resumes after Last-Event-ID with nothing missed and nothing twice', async () => {
    const s = await start();
    h = s.h;
    const rec = await planned(h, 'job-2');
    for (let i = 0; i < 5; i++) await log(h, 'job-2', i);
    const first = await collect(s.client, 'job-2', { until: (_e, all) => all.length === 4 });
    const resumeAt = first[3].id as string;
    const reading = collect(s.client, 'job-2', { lastEventId: resumeAt });
    for (let i = 5; i < 8; i++) await log(h, 'job-2', i);
    await endJobAsLeader(h.deps.jobs, rec, 'failed');
    const rest = await reading;
    const ids = [...first, ...rest].map((e) => e.id).filter((id): id is string => id !== null);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual((await h.deps.jobs.events(WS, 'job-2', '0', 1000)).map((e) => e.id));
    expect(rest.at(-1)).toMatchObject({ event: 'terminal', data: { state: 'failed', error: true } });
    // a client that reconnects after the end gets the terminal event at once
    const after = await collect(s.client, 'job-2', { lastEventId: ids.at(-1) });
    expect(after.map((e) => e.event)).toEqual(['terminal']);
  });

  it('says so when Last-Event-ID is older than what the capped stream holds', async () => {
    const s = await start();
    h = s.h;
    const rec = await planned(h, 'job-3');
    const [oldest] = await h.deps.jobs.events(WS, 'job-3', '0', 1);
    for (let i = 0; i < 20; i++) await log(h, 'job-3', i);
    await h.redis.xtrim(keys.jobEvents(WS, 'job-3'), 'MAXLEN', 5);
    await endJobAsLeader(h.deps.jobs, rec, 'succeeded');
    const events = await collect(s.client, 'job-3', { lastEventId: oldest.id });
    const [firstKept] = await h.deps.jobs.events(WS, 'job-3', '0', 1);
    expect(events[0]).toMatchObject({
      id: null,
      event: 'gap',
      data: { lastEventId: oldest.id, firstAvailableId: firstKept.id },
    });
    expect(events[1].id).toBe(firstKept.id);
    expect(events.at(-1)?.event).toBe('terminal');
  });

  it('sends heartbeats and closes a stream on which the job wrote nothing for the idle timeout', async () => {
    const s = await start({ VB_EVENTS_HEARTBEAT_S: '0.1', VB_EVENTS_IDLE_TIMEOUT_S: '1' });
    h = s.h;
    await planned(h, 'job-4');
    const { port } = h.app.server.address() as AddressInfo;
    const res = await fetch(
      `http://127.0.0.1:${port}/batch-processing/v1/external/${WS}/jobs/job-4/events?api_key=key-a`,
    );
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text).toMatch(/^retry: \d+\n\n/);
    expect(text.match(/^: heartbeat /gm)?.length).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(/event: close\ndata: \{"reason":"idle"\}\n\n$/);
  });

  it('refuses streams past VB_EVENTS_MAX_STREAMS with 503, and serves them all on one Redis connection', async () => {
    const s = await start({ VB_EVENTS_MAX_STREAMS: '12' });
    h = s.h;
    await planned(h, 'job-5');
    const before = await clientsOnDb(h.redis);
    const ac = new AbortController();
    const streams = Array.from({ length: 12 }, () =>
      (async () => {
        for await (const _ of readJobEvents(s.client, 'job-5', { signal: ac.signal })) {
        }
      })().catch(() => {}),
    );
    const { port } = h.app.server.address() as AddressInfo;
    const refused = await waitFor(
      async () => {
        const r = await fetch(
          `http://127.0.0.1:${port}/batch-processing/v1/external/${WS}/jobs/job-5/events?api_key=key-a`,
        );
        return r.status === 503 ? r : null;
      },
      { timeoutMs: 5000, intervalMs: 50 },
    );
    expect(((await refused.json()) as { code: string }).code).toBe('VB_ERR_TOO_MANY_STREAMS');
    // twelve followers, no new Redis connection
    expect(await clientsOnDb(h.redis)).toBe(before);
    ac.abort();
    await Promise.all(streams);
  });

  it('answers 404 for an unknown job and 400 for a malformed Last-Event-ID, before any stream opens', async () => {
    const s = await start();
    h = s.h;
    await planned(h, 'job-6');
    const base = `/batch-processing/v1/external/${WS}/jobs`;
    const missing = await h.app.inject({ method: 'GET', url: `${base}/nope/events?api_key=key-a` });
    expect(missing.statusCode).toBe(404);
    const bad = await h.app.inject({
      method: 'GET',
      url: `${base}/job-6/events?api_key=key-a`,
      headers: { 'last-event-id': 'yesterday' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VB_ERR_VALIDATION', field: 'Last-Event-ID' });
    const other = await h.app.inject({
      method: 'GET',
      url: `/batch-processing/v1/external/ws-b/jobs/job-6/events?api_key=key-a`,
    });
    expect(other.statusCode).toBe(403);
  });
});
