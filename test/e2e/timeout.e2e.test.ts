/**
 * `processingTimeoutSeconds` over real processes: a job whose work takes longer than its budget
 * fails with a clear log entry, and no task is still being offered to machines afterwards.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import {
  createJob,
  logs,
  registerSlowModel,
  slowJobBody,
  stageImages,
  stages,
  startStack,
  waitTerminal,
} from './e2e-support.ts';
import type { Stack } from './stack.ts';

describe('processing timeout', () => {
  let stack: Stack;
  beforeAll(async () => {
    await flushRedisTestDb();
    const dir = await useTempDir('vb-e2e-timeout-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'), { VB_IMAGES_PER_TASK: '8' });
    await registerSlowModel(stack, dir);
    await stageImages(stack, dir, 'slow', 40);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('fails the job once the budget is spent, with a processing-timeout log', async () => {
    // 40 images of ~100 ms each on one machine take ~4 s or more; the budget is 1 s.
    await createJob(
      stack,
      'too-slow',
      slowJobBody(stack, 'slow', { processingTimeoutSeconds: 1, maxParallelTasks: 1 }),
    );
    const job = await waitTerminal(stack, 'too-slow', 60_000);
    expect(job.isTerminal).toBe(true);
    expect(job.error).toBe(true);
    expect(String(job.lastNotification)).toMatch(/timeout/);
    const { logs: entries } = await logs(stack, 'too-slow');
    const entry = entries.find((l) => l.logType === 'processing-timeout');
    expect(entry).toMatchObject({ severity: 'error', reportingModule: 'scheduler' });
    const processing = (await stages(stack, 'too-slow')).find((s) => s.processingStageName === 'processing');
    expect(processing.statusType).toBe('error');
  });
});
