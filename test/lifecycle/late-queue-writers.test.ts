/**
 * Found by `npm run chaos`: BullMQ writes a queue's `meta` hash when a queue is opened and on every
 * stalled check of a worker, so a job's queue came back after the outbox had removed it whenever
 * something touched it after the job ended — a machine leased just before the end that started its
 * queue worker after loading its models, a machine still serving when an abort landed, a scheduler
 * replica reading queue counts — and stayed until the job's retention. Queues are now opened without
 * the meta update, and a machine's release removes the queue of a job that ended (or restarted) while
 * it served: its worker has stopped by then, so nothing writes to the queue afterwards.
 */
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../packages/shared/src/config.ts';
import { abortJob } from '../../packages/shared/src/job-ending.ts';
import { createLogger } from '../../packages/shared/src/logger.ts';
import { createRedis } from '../../packages/shared/src/redis.ts';
import { keys } from '../../packages/shared/src/redis-keys.ts';
import { JobQueues } from '../../services/scheduler/src/job-queues.ts';
import { Machine } from '../../services/worker/src/machine.ts';
import { workerMetrics } from '../../services/worker/src/metrics.ts';
import { simulatedRunner } from '../../services/worker/src/simulated-runner.ts';
import type { StartRunner } from '../../services/worker/src/task-runner.ts';
import { useRedisTestDb, useTempDir, waitFor } from '../support/helpers.ts';
import { type Harness, queueKeys, startHarness, WS } from './harness.ts';

const redisUrl = useRedisTestDb();

/** Keys of a job's queues that never expire (BullMQ's stalled-check marker has a TTL and goes by itself). */
async function lastingQueueKeys(h: Harness, jobId: string): Promise<string[]> {
  const out: string[] = [];
  for (const k of await queueKeys(h.redis, jobId)) if ((await h.redis.pttl(k)) === -1) out.push(k);
  return out;
}

describe('queues opened after the job ended', () => {
  let h: Harness;
  let storeDir: string;
  beforeEach(async () => {
    storeDir = await useTempDir('vb-late-queue-');
  });
  afterEach(async () => {
    await h?.close();
  });

  it('a machine that starts serving after the job ended and its queue was removed leaves nothing behind', async () => {
    h = await startHarness(redisUrl, storeDir);
    await h.stageImages('in', 8);
    await h.createJob('late', 'in');
    await h.driver.drive(WS, 'late');
    // A machine whose model load takes a while: leased before the end, serving after it.
    let loading!: () => void;
    const loadStarted = new Promise<void>((r) => (loading = r));
    let finishLoad!: () => void;
    const loaded = new Promise<void>((r) => (finishLoad = r));
    const slowStart: StartRunner = async (...args) => {
      loading();
      await loaded;
      return simulatedRunner(h.store)(...args);
    };
    const connection = createRedis(redisUrl);
    const machine = new Machine({
      config: loadConfig({ VB_LOG_LEVEL: 'silent', VB_WORKER_ID: 'slow', VB_LEASE_TTL_MS: '3000' }),
      scheduler: { ...h.handlers, close: () => {} },
      connection,
      jobs: h.jobs,
      logger: createLogger('test', 'silent'),
      metrics: workerMetrics(new Registry()),
      startRunner: slowStart,
    });
    const running = machine.run();
    await loadStarted;
    expect(await abortJob(h.jobs, WS, 'late')).toBe('aborted');
    await h.reaper.reap();
    expect(await queueKeys(h.redis, 'late')).toEqual([]);
    finishLoad();
    await waitFor(async () => (await h.redis.scard(keys.jobLeases(WS, 'late'))) === 0, {
      timeoutMs: 10_000,
      message: 'the machine released its lease',
    });
    await machine.stop();
    await running;
    connection.disconnect();
    expect(await lastingQueueKeys(h, 'late')).toEqual([]);
  });

  it("a scheduler replica reading an ended job's queue counts leaves nothing behind", async () => {
    h = await startHarness(redisUrl, storeDir);
    await h.stageImages('in', 8);
    await h.createJob('read', 'in');
    await h.driver.drive(WS, 'read');
    expect(await abortJob(h.jobs, WS, 'read')).toBe('aborted');
    await h.reaper.reap();
    // another replica (its own queue cache) answers a LeaseJob that read the job as running just before
    const replica = new JobQueues(h.redis);
    expect(await replica.pending(WS, 'read', 0)).toEqual({ waiting: 0, active: 0 });
    await replica.closeAll();
    expect(await lastingQueueKeys(h, 'read')).toEqual([]);
  });
});
