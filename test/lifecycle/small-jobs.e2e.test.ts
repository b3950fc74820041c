/**
 * Small jobs use the machine: with the default 256 images per task, a 24-image job on one machine
 * of 2 slots is planned as 2 tasks (one per slot), not one task on one slot, and every image is in
 * the results once.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createJob,
  expectEachOnce,
  exportResults,
  imageJobBody,
  registerModelAndWorkflow,
  stageImages,
  stages,
  startStack,
  waitTerminal,
} from '../e2e/e2e-support.ts';
import type { Stack } from '../e2e/stack.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';

describe('task sizing of small jobs', () => {
  let stack: Stack;
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-small-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'), { VB_IMAGES_PER_TASK: '256' });
    await registerModelAndWorkflow(stack, dir);
    files = (await stageImages(stack, dir, 'small-in', 24)).files;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('a 24-image job on one 2-slot machine runs as 2 tasks', async () => {
    await createJob(
      stack,
      'small',
      imageJobBody(stack, 'small-in', {
        computeConfiguration: { type: 'compute-configuration-v2', machineType: 'cpu', workersPerMachine: 2 },
      }),
    );
    const job = await waitTerminal(stack, 'small', 90_000);
    expect(job.error).toBe(false);
    const processing = (await stages(stack, 'small')).find((s) => s.processingStageName === 'processing');
    expect(processing.tasksNumber).toBe(2);
    const rows = await exportResults(stack, 'small', path.join(dir, 'out'));
    expect(expectEachOnce(rows, files)).toEqual({ dupes: [], missing: [], extra: [] });
  }, 120_000);
});
