/**
 * Batch expiry with real processes: the scheduler's periodic collector (wired in its main.ts)
 * removes an expired batch's objects and Redis keys; the api answers 404 for it.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageForm } from '../api/app-harness.ts';
import { Stack } from '../e2e/stack.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import { jpeg } from './staging-support.ts';

describe('expired batches are collected by the running scheduler', () => {
  let stack: Stack;
  let dataDir: string;
  beforeAll(async () => {
    await flushRedisTestDb();
    dataDir = await useTempDir('vb-expiry-e2e-');
    stack = await Stack.create({
      redisUrl: redisTestUrl(),
      dataDir,
      extraEnv: { VB_BATCH_TTL_S: '3', VB_BATCH_GC_INTERVAL_S: '1' },
    });
    await stack.start('api');
    await stack.start('scheduler');
  }, 120_000);
  afterAll(() => stack?.stop());

  it('a batch past VB_BATCH_TTL_S is 404, unlisted, and its objects and keys are deleted', async () => {
    const DS = `/data-staging/v1/external/${stack.workspace}`;
    const form = imageForm('a.jpg', jpeg());
    const up = await fetch(
      `${stack.apiUrl}${DS}/batches/short-lived/upload/image?api_key=${stack.apiKey}&fileName=a.jpg`,
      { method: 'POST', body: form.payload, headers: form.headers },
    );
    expect(up.status).toBe(200);
    expect((await stack.call('GET', `${DS}/batches/short-lived/count`)).json).toEqual({ count: 1 });
    const batchDir = path.join(dataDir, 'objects', 'ws', stack.workspace, 'batches', 'short-lived');
    expect((await readdir(batchDir, { recursive: true })).length).toBeGreaterThan(0);

    await waitFor(async () => (await stack.call('GET', `${DS}/batches/short-lived`)).status === 404, {
      timeoutMs: 10_000,
      intervalMs: 200,
      message: 'batch 404',
    });
    expect((await stack.call('GET', `${DS}/batches`)).json).toEqual({ batches: [], nextPageToken: null });
    const redis = new Redis(redisTestUrl());
    try {
      await waitFor(async () => (await redis.keys('{vb}:batch*')).length === 0, {
        timeoutMs: 10_000,
        intervalMs: 200,
        message: 'batch keys removed',
      });
    } finally {
      redis.disconnect();
    }
    const left = await readdir(batchDir, { recursive: true }).catch(() => [] as string[]);
    expect(left.filter((f) => !f.endsWith('/') && /\.jpg$/.test(f))).toEqual([]);
  }, 60_000);
});
