/**
 * Bounded state: with a short retention, finished jobs leave nothing behind. After 200 jobs have
 * run (simulated machines, real moves, queues, outbox and results) and been collected, Redis's key
 * count and used_memory are back at the baseline taken before them.
 */
import { describe, expect, it } from 'vitest';
import { useRedisTestDb, useTempDir, waitFor } from '../support/helpers.ts';
import { startHarness, WS } from './harness.ts';

const redisUrl = useRedisTestDb();

const JOBS = Number(process.env.VB_TEST_JOBS ?? 200);

describe('bounded state', () => {
  it(`${JOBS} finished jobs leave the key count and used_memory at the baseline after collection`, async () => {
    const h = await startHarness(redisUrl, await useTempDir('vb-bounded-'), {
      // output batches expire at once; terminal jobs are collected with retention 0 below
      env: { VB_BATCH_TTL_S: '1' },
    });
    const machines = h.startMachines(4);
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await h.redis.info('memory'))?.[1]);
    const runJobs = async (ids: string[]) => {
      for (const id of ids) await h.createJob(id, 'in');
      await waitFor(
        async () => {
          await h.driver.tick();
          await h.driver.idle();
          const recs = await Promise.all(ids.map((id) => h.jobs.get(WS, id)));
          return recs.every((r) => r?.state === 'succeeded');
        },
        { timeoutMs: 120_000, intervalMs: 50 },
      );
      while ((await h.reaper.reap(500)) > 0) {}
    };
    const collectAll = async () => {
      // output batches expire one second after they were made
      await new Promise((r) => setTimeout(r, 1100));
      await h.collect(0);
    };
    try {
      await h.stageImages('in', 3);
      // a first job loads every script and creates what lives for good (machine records, indexes)
      await runJobs(['warm-up']);
      await collectAll();
      const baseline = { keys: await h.redis.dbsize(), memory: await usedMemory() };

      await runJobs(Array.from({ length: JOBS }, (_, i) => `job-${i}`));
      const grown = { keys: await h.redis.dbsize(), memory: await usedMemory() };
      expect(grown.keys).toBeGreaterThan(baseline.keys + JOBS);

      await collectAll();
      expect(await h.jobs.get(WS, 'job-0')).toBeNull();
      expect(await h.redis.dbsize()).toBe(baseline.keys);
      // allocator slack only: far below what the jobs held
      const after = await usedMemory();
      expect(after - baseline.memory).toBeLessThan(
        Math.max(64 * 1024, (grown.memory - baseline.memory) / 20),
      );
    } finally {
      await machines.stop();
      await h.close();
    }
  }, 240_000);
});
