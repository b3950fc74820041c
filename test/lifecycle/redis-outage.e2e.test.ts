/**
 * Redis down for 10 s in the middle of a job: the api answers every request with a clear 503 JSON
 * error within 2 s (never hangs) while it is down, recovers on its own when Redis is back, and the
 * job in flight finishes afterwards with every file in the results exactly once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bp,
  createJob,
  ds,
  expectEachOnce,
  exportResults,
  processingTasks,
  registerSlowModel,
  slowJobBody,
  stageImages,
  startStack,
  waitTerminal,
} from '../e2e/e2e-support.ts';
import { RedisChild } from '../e2e/redis-child.ts';
import type { Stack } from '../e2e/stack.ts';
import { useTempDir, waitFor } from '../support/helpers.ts';

const OUTAGE_MS = 10_000;

describe('Redis outage', () => {
  let stack: Stack;
  let redis: RedisChild;
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    dir = await useTempDir('vb-redis-outage-');
    const redisDir = path.join(dir, 'redis');
    fs.mkdirSync(redisDir, { recursive: true });
    redis = await RedisChild.start(redisDir);
    stack = await startStack(redis.url, path.join(dir, 'data'), {
      VB_IMAGES_PER_TASK: '4',
      VB_WORKER_SLOTS: '1',
    });
    await registerSlowModel(stack, dir);
    files = (await stageImages(stack, dir, 'outage-in', 24)).files;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  /** One timed call; the client gives up after 5 s (a hang would show as status 0). */
  const timed = async (method: string, p: string, body?: unknown) => {
    const t0 = Date.now();
    try {
      const r = await stack.call(method, p, body, { signal: AbortSignal.timeout(5000) });
      return { status: r.status, json: r.json, ms: Date.now() - t0 };
    } catch {
      return { status: 0, json: null, ms: Date.now() - t0 };
    }
  };

  it('answers 503 within 2 s while Redis is down, recovers, and the job in flight finishes with nothing lost', async () => {
    await createJob(stack, 'outage', slowJobBody(stack, 'outage-in'));
    await waitFor(
      async () =>
        [...(await processingTasks(stack, 'outage')).values()].some((t) => t.statusType === 'success'),
      { timeoutMs: 60_000, intervalMs: 100, message: 'a task done' },
    );
    await redis.stop('SIGKILL');
    const downAt = Date.now();
    const answers: Array<{ status: number; json: unknown; ms: number }> = [];
    while (Date.now() - downAt < OUTAGE_MS) {
      answers.push(
        ...(await Promise.all([
          timed('GET', `${bp(stack)}/jobs/outage`),
          timed('GET', `${ds(stack)}/batches`),
          timed('POST', `${bp(stack)}/jobs/outage/abort`),
        ])),
      );
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(answers.length).toBeGreaterThan(20);
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.ms).toBeLessThan(2000);
      expect(a.json).toMatchObject({ code: 'VB_ERR_UNAVAILABLE' });
    }
    await redis.start();
    // the api recovers on its own
    await waitFor(async () => (await timed('GET', `${bp(stack)}/jobs/outage`)).status === 200, {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: 'api answers again',
    });
    // the aborts sent during the outage were refused, not queued: the job runs on and succeeds
    const job = await waitTerminal(stack, 'outage', 180_000);
    expect(job).toMatchObject({ isTerminal: true, error: false });
    const rows = await exportResults(stack, 'outage', path.join(dir, 'out'));
    expect(expectEachOnce(rows, files)).toEqual({ dupes: [], missing: [], extra: [] });
  }, 360_000);
});
