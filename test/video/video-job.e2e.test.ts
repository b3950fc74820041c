import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { exportBatch } from '@visionbatch/cli';
import { generateVideo } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bp,
  client,
  ds,
  FAST_ENV,
  registerModelAndWorkflow,
  stages,
  WORKFLOW_ID,
  waitTerminal,
} from '../e2e/e2e-support.ts';
import { Stack } from '../e2e/stack.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';

interface GtBox {
  trackId: number;
  class: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

describe('video job: frames sub-sampled by maxVideoFPS, detections per frame', () => {
  let stack: Stack;
  let dir: string;
  let gt: { fps: number; frameCount: number; frames: Record<string, GtBox[]> };
  beforeAll(async () => {
    dir = await useTempDir();
    await flushRedisTestDb();
    stack = await Stack.create({
      redisUrl: redisTestUrl(),
      dataDir: path.join(dir, 'data'),
      extraEnv: FAST_ENV,
    });
    await stack.start('api');
    await stack.start('scheduler');
    await stack.start('worker', 'worker', { VB_WORKER_SLOTS: '1' });
    await registerModelAndWorkflow(stack, dir);
    const clip = path.join(dir, 'clip.mp4');
    const v = await generateVideo({ path: clip, seconds: 2, fps: 30, width: 640, height: 360, seed: 5 });
    gt = JSON.parse(await readFile(v.groundTruthPath, 'utf8'));
    const r = await stack.call(
      'POST',
      `${ds(stack)}/batches/clips/upload/video?fileName=clip.mp4&displayName=clips`,
    );
    expect(r.status).toBe(200);
    const put = await fetch(r.json.signedURLDetails.uploadURL, { method: 'PUT', body: await readFile(clip) });
    expect(put.status).toBe(200);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('processes frames 1, 7, 13, … (1-based) at maxVideoFPS 5 with timestamps, boxes on the moving squares', async () => {
    const body = {
      type: 'simple-video-processing-v1',
      jobInput: { type: 'staging-batch-input-v1', batchId: 'clips' },
      computeConfiguration: { type: 'compute-configuration-v2' },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: stack.workspace,
        workflowId: WORKFLOW_ID,
        persistImagesOutputs: false,
        maxVideoFPS: 5,
      },
    };
    const created = await stack.call('POST', `${bp(stack)}/jobs/video-1`, body);
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const job = await waitTerminal(stack, 'video-1');
    expect(job.error, JSON.stringify(job.lastNotification)).toBe(false);
    const exp = (await stages(stack, 'video-1')).find((s) => s.processingStageName === 'export');
    const target = path.join(dir, 'out');
    await exportBatch(client(stack), {
      batchId: exp.outputBatches[0],
      targetDir: target,
      progress: { silent: true },
      log: () => {},
    });
    const { readdir } = await import('node:fs/promises');
    const files = (await readdir(target, { recursive: true })).filter(
      (f) => String(f).endsWith('.jsonl') && !path.basename(String(f)).startsWith('.'),
    );
    expect(files).toHaveLength(1);
    const rows = (await readFile(path.join(target, String(files[0])), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.frame_number)).toEqual([1, 7, 13, 19, 25, 31, 37, 43, 49, 55]);
    expect(rows[1].frame_timestamp).toBe(new Date(200).toISOString());
    expect(rows.every((r) => r.video === 'clip.mp4')).toBe(true);
    // the trailing keys come after the workflow outputs
    expect(Object.keys(rows[0])).toEqual(['predictions', 'video', 'frame_number', 'frame_timestamp']);
    let matched = 0;
    for (const r of rows) {
      const truth = gt.frames[String(r.frame_number - 1)];
      const preds = r.predictions.predictions as Array<{
        class: string;
        x: number;
        y: number;
        width: number;
        height: number;
      }>;
      expect(preds.length, `frame ${r.frame_number}`).toBe(truth.length);
      for (const t of truth) {
        const p = preds.find((q) => q.class === t.class);
        expect(p, `frame ${r.frame_number} ${t.class}`).toBeDefined();
        // H.264 blurs edges a little; 2 px is the same bound as for images
        expect(Math.abs(p!.x - t.x)).toBeLessThanOrEqual(2);
        expect(Math.abs(p!.y - t.y)).toBeLessThanOrEqual(2);
        matched++;
      }
    }
    expect(matched).toBeGreaterThanOrEqual(20);
  });
});

describe('long video split into time segments (stateless workflow)', () => {
  let stack: Stack;
  let dir: string;
  beforeAll(async () => {
    dir = await useTempDir();
    await flushRedisTestDb();
    stack = await Stack.create({
      redisUrl: redisTestUrl(),
      dataDir: path.join(dir, 'data'),
      extraEnv: { ...FAST_ENV, VB_VIDEO_SEGMENT_SECONDS: '1' },
    });
    await stack.start('api');
    await stack.start('scheduler');
    await stack.start('worker', 'worker', { VB_WORKER_SLOTS: '2' });
    await registerModelAndWorkflow(stack, dir);
    const clip = path.join(dir, 'long.mp4');
    await generateVideo({ path: clip, seconds: 3, fps: 30, width: 640, height: 360, seed: 9 });
    const r = await stack.call(
      'POST',
      `${ds(stack)}/batches/long/upload/video?fileName=long.mp4&displayName=long`,
    );
    await fetch(r.json.signedURLDetails.uploadURL, { method: 'PUT', body: await readFile(clip) });
  }, 120_000);
  afterAll(() => stack?.stop());

  it('plans one task per second of video and yields every sampled frame exactly once', async () => {
    const body = {
      type: 'simple-video-processing-v1',
      jobInput: { type: 'staging-batch-input-v1', batchId: 'long' },
      computeConfiguration: { type: 'compute-configuration-v2', workersPerMachine: 2 },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: stack.workspace,
        workflowId: WORKFLOW_ID,
        persistImagesOutputs: false,
        maxVideoFPS: 7,
      },
    };
    expect((await stack.call('POST', `${bp(stack)}/jobs/video-seg`, body)).status).toBe(200);
    const job = await waitTerminal(stack, 'video-seg');
    expect(job.error, JSON.stringify(job.lastNotification)).toBe(false);
    const st = await stages(stack, 'video-seg');
    expect(st.find((s) => s.processingStageName === 'processing').tasksNumber).toBe(3);
    const target = path.join(dir, 'out');
    await exportBatch(client(stack), {
      batchId: st.find((s) => s.processingStageName === 'export').outputBatches[0],
      targetDir: target,
      progress: { silent: true },
      log: () => {},
    });
    const { readdir } = await import('node:fs/promises');
    const files = (await readdir(target, { recursive: true })).filter(
      (f) => String(f).endsWith('.jsonl') && !path.basename(String(f)).startsWith('.'),
    );
    expect(files).toHaveLength(3);
    const frames: number[] = [];
    for (const f of files) {
      for (const line of (await readFile(path.join(target, String(f)), 'utf8')).trim().split('\n')) {
        const row = JSON.parse(line);
        frames.push(row.frame_number);
        expect(row.predictions.predictions.length).toBeGreaterThan(0);
      }
    }
    frames.sort((a, b) => a - b);
    // floor(n * 7 / 30) steps up: source frames 0, 5, 9, 13, 18, … (1-based in rows)
    const expected = Array.from({ length: 90 }, (_, n) => n)
      .filter((n) => n === 0 || Math.floor((n * 7) / 30) > Math.floor(((n - 1) * 7) / 30))
      .map((n) => n + 1);
    expect(frames).toEqual(expected);
  });
});
