/**
 * Fault injection over real processes: the scheduler is killed (SIGKILL, via VB_FAULT_POINTS) at
 * each named point of a job's life — mid-plan, mid-export, right after the terminal write, before
 * and after its webhook is enqueued — and restarted. Every run ends with the job terminal, every
 * file in the results once, exactly one webhook event for its end, and no queue left behind.
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_POINTS } from '../../services/scheduler/src/fault-points.ts';
import {
  createJob,
  expectEachOnce,
  exportResults,
  FAST_ENV,
  imageJobBody,
  registerModelAndWorkflow,
  stageImages,
  waitTerminal,
} from '../e2e/e2e-support.ts';
import { Stack } from '../e2e/stack.ts';
import { startReceiver } from '../staging/staging-support.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';

describe('the scheduler killed at each fault point', () => {
  let stack: Stack;
  let dir: string;
  let files: string[];
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const redis = new Redis(redisTestUrl());

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-faults-');
    receiver = await startReceiver();
    stack = await Stack.create({
      redisUrl: redisTestUrl(),
      dataDir: path.join(dir, 'data'),
      extraEnv: {
        ...FAST_ENV,
        VB_IMAGES_PER_TASK: '4',
        VB_LEADER_TTL_MS: '1500',
        VB_URL_ALLOWLIST: '127.0.0.1',
      },
    });
    await stack.start('api');
    await stack.start('scheduler');
    await stack.start('worker', 'worker-1');
    await registerModelAndWorkflow(stack, dir);
    files = (await stageImages(stack, dir, 'faults-in', 12)).files;
    await stack.kill('scheduler');
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
    redis.disconnect();
  });

  /** Queue keys of a job that would stay for good (BullMQ's stalled-check keys expire by themselves). */
  const persistentQueueKeys = async (jobId: string) => {
    const found = await redis.keys(`{vb}:job.${stack.workspace}.${jobId}.e*`);
    const ttls = await Promise.all(found.map((k) => redis.pttl(k)));
    return found.filter((_, i) => ttls[i] === -1);
  };
  const eventsOf = (jobId: string) => receiver.bodies.filter((b) => b.job_id === jobId);

  /** A job id (at most 20 characters) per fault point. */
  const jobOf = (point: string) => `fault-${FAULT_POINTS.indexOf(point as never)}`;

  it.each(FAULT_POINTS)(
    'killed at %s: the job ends once, with one webhook event and no leaked queue',
    async (point) => {
      const jobId = jobOf(point);
      await stack.start('scheduler', 'scheduler', { VB_FAULT_POINTS: point });
      try {
        await createJob(stack, jobId, {
          ...imageJobBody(stack, 'faults-in'),
          notificationsURL: receiver.url,
        });
        expect(await stack.exited('scheduler')).toBe('SIGKILL');
      } finally {
        await stack.kill('scheduler');
      }
      await stack.start('scheduler');
      const job = await waitTerminal(stack, jobId, 90_000);
      expect(job).toMatchObject({ isTerminal: true, error: false });
      await waitFor(() => eventsOf(jobId).length > 0, { timeoutMs: 30_000, message: `webhook of ${jobId}` });
      const rows = await exportResults(stack, jobId, path.join(dir, `out-${jobId}`));
      expect(expectEachOnce(rows, files)).toEqual({ dupes: [], missing: [], extra: [] });
      await waitFor(async () => (await persistentQueueKeys(jobId)).length === 0, {
        timeoutMs: 20_000,
        message: `queue of ${jobId} removed`,
      });
      await stack.kill('scheduler');
    },
    180_000,
  );

  it('no job got a second webhook event (checked after a later job was delivered)', async () => {
    await stack.start('scheduler');
    await createJob(stack, 'fault-last', {
      ...imageJobBody(stack, 'faults-in'),
      notificationsURL: receiver.url,
    });
    await waitTerminal(stack, 'fault-last', 90_000);
    await waitFor(() => eventsOf('fault-last').length > 0, { timeoutMs: 30_000, message: 'last webhook' });
    for (const point of FAULT_POINTS) {
      const events = eventsOf(jobOf(point));
      expect(new Set(events.map((e) => e.event_id)).size, point).toBe(1);
      expect(events[0]).toMatchObject({ type: 'roboflow-batch-job-notification-v1', job_state: 'success' });
    }
  }, 120_000);
});
