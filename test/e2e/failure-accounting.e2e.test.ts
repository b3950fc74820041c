/**
 * Failure accounting over real processes: a batch where 5 % of the images are corrupt (valid JPEG
 * header, truncated body) succeeds under `maxImageFailureRate: 0.1`, with every failed image listed
 * in the job logs as `image-failed` with a reason, and fails under `maxImageFailureRate: 0.01`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createBatchOfImages } from '@visionbatch/cli';
import { generateImageDataset } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import {
  client,
  createJob,
  ds,
  imageJobBody,
  logs,
  registerModelAndWorkflow,
  stages,
  startStack,
  waitTerminal,
} from './e2e-support.ts';
import type { Stack } from './stack.ts';

const IMAGES = 40;
const PER_TASK = 20;
// One corrupt image in each task (tasks are cut in file-name order): 2 of 40 = 5 %, 1 of 20 per task.
const CORRUPT = [3, 25];

describe('failure accounting', () => {
  let stack: Stack;
  let dir: string;
  let corrupt: string[] = [];

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-e2e-failures-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'), {
      VB_IMAGES_PER_TASK: String(PER_TASK),
    });
    await registerModelAndWorkflow(stack, dir);
    const imagesDir = path.join(dir, 'images');
    const ds0 = await generateImageDataset({ dir: imagesDir, count: IMAGES, seed: 21, pngEvery: 0 });
    fs.rmSync(ds0.groundTruthPath);
    corrupt = CORRUPT.map((i) => ds0.files[i]);
    for (const f of corrupt) {
      const p = path.join(imagesDir, f);
      const bytes = fs.readFileSync(p);
      fs.writeFileSync(p, bytes.subarray(0, Math.floor(bytes.length / 3)));
    }
    await createBatchOfImages(client(stack), {
      batchId: 'fa-in',
      imagesDir,
      progress: { silent: true },
      log: () => {},
    });
    await waitFor(
      // The corrupt files must reach the job (they are valid JPEGs up to their headers).
      async () => (await stack.call('GET', `${ds(stack)}/batches/fa-in/count`)).json?.count >= IMAGES,
      { timeoutMs: 60_000, intervalMs: 250, message: `batch fa-in lists all ${IMAGES} files` },
    );
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('succeeds under maxImageFailureRate 0.1 and lists every failed image with a reason', async () => {
    await createJob(stack, 'fa-ok', imageJobBody(stack, 'fa-in', { maxImageFailureRate: 0.1 }));
    const job = await waitTerminal(stack, 'fa-ok');
    expect(job.error).toBe(false);
    const { logs: ls } = await logs(stack, 'fa-ok');
    const failed = ls.filter((l) => l.logType === 'image-failed');
    expect(failed.map((l) => l.payload.file).sort()).toEqual([...corrupt].sort());
    for (const l of failed) {
      expect(l.severity).toBe('error');
      expect(typeof l.payload.reason).toBe('string');
      expect(l.payload.reason.length).toBeGreaterThan(0);
      expect(l.taskId).toMatch(/^t\d+/);
    }
    const processing = (await stages(stack, 'fa-ok')).find((s) => s.processingStageName === 'processing');
    expect(processing.notification).toMatchObject({
      filesProcessed: IMAGES - corrupt.length,
      filesFailed: corrupt.length,
    });
  }, 120_000);

  it('fails under maxImageFailureRate 0.01', async () => {
    await createJob(stack, 'fa-strict', imageJobBody(stack, 'fa-in', { maxImageFailureRate: 0.01 }));
    const job = await waitTerminal(stack, 'fa-strict');
    expect(job.error).toBe(true);
    const { logs: ls } = await logs(stack, 'fa-strict');
    expect(
      ls.some((l) => l.logType === 'task-failed' && l.payload.reason === 'failure-threshold-exceeded'),
    ).toBe(true);
    const processing = (await stages(stack, 'fa-strict')).find((s) => s.processingStageName === 'processing');
    expect(processing.statusType).toBe('error');
  }, 120_000);
});
