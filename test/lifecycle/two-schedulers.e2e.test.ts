/**
 * Two scheduler replicas: jobs run with both up (one leads, both serve gRPC); SIGKILL the leader
 * mid-job and the other takes over within the leader lease's TTL plus a tick, and the job completes
 * with every file once and one webhook.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../packages/shared/src/redis-keys.ts';
import {
  createJob,
  expectEachOnce,
  exportResults,
  FAST_ENV,
  processingTasks,
  registerSlowModel,
  slowJobBody,
  stageImages,
  waitTerminal,
} from '../e2e/e2e-support.ts';
import { Stack } from '../e2e/stack.ts';
import { startReceiver } from '../staging/staging-support.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';

const LEADER_TTL_MS = 2000;

describe('two scheduler replicas', () => {
  let stack: Stack;
  let dir: string;
  let files: string[];
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let second: Awaited<ReturnType<Stack['secondScheduler']>>;
  const redis = new Redis(redisTestUrl());

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-two-sched-');
    receiver = await startReceiver();
    stack = await Stack.create({
      redisUrl: redisTestUrl(),
      dataDir: path.join(dir, 'data'),
      extraEnv: {
        ...FAST_ENV,
        VB_IMAGES_PER_TASK: '4',
        VB_WORKER_SLOTS: '1',
        VB_LEADER_TTL_MS: String(LEADER_TTL_MS),
        VB_URL_ALLOWLIST: '127.0.0.1',
      },
    });
    second = await stack.secondScheduler();
    const url = { VB_SCHEDULER_URL: second.schedulerUrl };
    await stack.start('scheduler', 'scheduler-a', { ...url, VB_SCHEDULER_REPLICA_ID: 'a' });
    await stack.start('scheduler', 'scheduler-b', { ...url, ...second.env, VB_SCHEDULER_REPLICA_ID: 'b' });
    await stack.start('api', 'api', url);
    await stack.start('worker', 'worker-1', url);
    await stack.start('worker', 'worker-2', url);
    await registerSlowModel(stack, dir);
    files = (await stageImages(stack, dir, 'two-in', 24)).files;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
    redis.disconnect();
  });

  const leaderReplica = async () => (await redis.get(keys.schedulerLeader()))?.split(':')[0] ?? null;

  it('runs a job with both replicas up; the leader killed mid-job is replaced within TTL + a tick', async () => {
    await createJob(stack, 'two-1', { ...slowJobBody(stack, 'two-in'), notificationsURL: receiver.url });
    // mid-job: some tasks done, some not
    await waitFor(
      async () =>
        [...(await processingTasks(stack, 'two-1')).values()].some((t) => t.statusType === 'success'),
      { timeoutMs: 60_000, intervalMs: 100, message: 'a task done' },
    );
    const leader = await leaderReplica();
    expect(['a', 'b']).toContain(leader);
    const standby = leader === 'a' ? 'b' : 'a';
    await stack.kill(`scheduler-${leader}`, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(async () => (await leaderReplica()) === standby, {
      timeoutMs: LEADER_TTL_MS + 5000,
      intervalMs: 50,
      message: 'the standby leads',
    });
    // lease TTL, plus one renewal round (a third of it) and a tick of slack
    expect(Date.now() - killedAt).toBeLessThan(LEADER_TTL_MS + LEADER_TTL_MS / 3 + 1000);
    const job = await waitTerminal(stack, 'two-1', 120_000);
    expect(job).toMatchObject({ isTerminal: true, error: false });
    const rows = await exportResults(stack, 'two-1', path.join(dir, 'out-two-1'));
    expect(expectEachOnce(rows, files)).toEqual({ dupes: [], missing: [], extra: [] });
    await waitFor(() => receiver.bodies.some((b) => b.job_id === 'two-1'), {
      timeoutMs: 30_000,
      message: 'webhook',
    });
    // the standby drove the rest of the job
    const log = fs.readFileSync(path.join(stack.env.VB_DATA_DIR, 'logs', `scheduler-${standby}.log`), 'utf8');
    expect(log).toContain('this scheduler replica leads');

    // a later job runs on the surviving replica; afterwards the first job's webhook was sent once
    await createJob(stack, 'two-2', { ...slowJobBody(stack, 'two-in'), notificationsURL: receiver.url });
    await waitTerminal(stack, 'two-2', 120_000);
    await waitFor(() => receiver.bodies.some((b) => b.job_id === 'two-2'), {
      timeoutMs: 30_000,
      message: 'webhook 2',
    });
    expect(receiver.bodies.filter((b) => b.job_id === 'two-1')).toHaveLength(1);
  }, 300_000);
});
