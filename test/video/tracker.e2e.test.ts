import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { exportBatch, putWorkflow } from '@visionbatch/cli';
import { generateVideo } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bp,
  client,
  ds,
  FAST_ENV,
  MODEL_ID,
  registerModelAndWorkflow,
  stages,
  waitTerminal,
} from '../e2e/e2e-support.ts';
import { Stack } from '../e2e/stack.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';

/**
 * Trackers over the real process stack (spec/workflows.md §2.14): a generated video of moving
 * squares, detector → `trackers_bytetrack@v1` and → `byte_tracker@v3` side by side. Each square
 * must keep one tracker id for the whole video, squares must not share ids, and the video must be
 * processed in one ordered task even though segments of one second are configured.
 */

interface GtBox {
  trackId: number;
  class: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Pred {
  class: string;
  x: number;
  y: number;
  width: number;
  height: number;
  tracker_id?: number;
}

const TRACKER_WORKFLOW_ID = 'tracker-e2e';
const TRACKER_WORKFLOW = {
  version: '1.0',
  inputs: [{ type: 'WorkflowImage', name: 'image' }],
  steps: [
    {
      type: 'roboflow_core/roboflow_object_detection_model@v2',
      name: 'det',
      images: '$inputs.image',
      model_id: MODEL_ID,
    },
    {
      type: 'roboflow_core/trackers_bytetrack@v1',
      name: 'bytetrack',
      image: '$inputs.image',
      detections: '$steps.det.predictions',
    },
    {
      type: 'roboflow_core/byte_tracker@v3',
      name: 'legacy',
      image: '$inputs.image',
      detections: '$steps.det.predictions',
    },
  ],
  outputs: [
    { type: 'JsonField', name: 'detections', selector: '$steps.det.predictions' },
    { type: 'JsonField', name: 'tracked', selector: '$steps.bytetrack.tracked_detections' },
    { type: 'JsonField', name: 'new', selector: '$steps.bytetrack.new_instances' },
    { type: 'JsonField', name: 'legacy', selector: '$steps.legacy.tracked_detections' },
  ],
};

describe('video job with a tracker: one ordered pass, one id per moving square', () => {
  let stack: Stack;
  let dir: string;
  let gt: { fps: number; frameCount: number; frames: Record<string, GtBox[]> };
  beforeAll(async () => {
    dir = await useTempDir();
    await flushRedisTestDb();
    stack = await Stack.create({
      redisUrl: redisTestUrl(),
      dataDir: path.join(dir, 'data'),
      // a stateless workflow would be cut into three one-second tasks
      extraEnv: { ...FAST_ENV, VB_VIDEO_SEGMENT_SECONDS: '1' },
    });
    await stack.start('api');
    await stack.start('scheduler');
    await stack.start('worker', 'worker', { VB_WORKER_SLOTS: '2' });
    await registerModelAndWorkflow(stack, dir);
    await putWorkflow(client(stack), TRACKER_WORKFLOW_ID, TRACKER_WORKFLOW);
    const clip = path.join(dir, 'moving.mp4');
    const v = await generateVideo({ path: clip, seconds: 3, fps: 15, width: 480, height: 270, seed: 11 });
    gt = JSON.parse(await readFile(v.groundTruthPath, 'utf8'));
    const r = await stack.call(
      'POST',
      `${ds(stack)}/batches/moving/upload/video?fileName=moving.mp4&displayName=moving`,
    );
    expect(r.status).toBe(200);
    const put = await fetch(r.json.signedURLDetails.uploadURL, { method: 'PUT', body: await readFile(clip) });
    expect(put.status).toBe(200);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('keeps each square on one tracker id across all frames, distinct per square, unsegmented', async () => {
    const body = {
      type: 'simple-video-processing-v1',
      jobInput: { type: 'staging-batch-input-v1', batchId: 'moving' },
      computeConfiguration: { type: 'compute-configuration-v2', workersPerMachine: 2 },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: stack.workspace,
        workflowId: TRACKER_WORKFLOW_ID,
        persistImagesOutputs: false,
      },
    };
    const created = await stack.call('POST', `${bp(stack)}/jobs/track-1`, body);
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const job = await waitTerminal(stack, 'track-1');
    expect(job.error, JSON.stringify(job.lastNotification)).toBe(false);
    const st = await stages(stack, 'track-1');
    // stateful workflow: the whole video in one task, never split into segments
    expect(st.find((s) => s.processingStageName === 'processing').tasksNumber).toBe(1);

    const target = path.join(dir, 'out');
    await exportBatch(client(stack), {
      batchId: st.find((s) => s.processingStageName === 'export').outputBatches[0],
      targetDir: target,
      progress: { silent: true },
      log: () => {},
    });
    const files = (await readdir(target, { recursive: true })).filter(
      (f) => String(f).endsWith('.jsonl') && !path.basename(String(f)).startsWith('.'),
    );
    expect(files).toHaveLength(1);
    const rows = (await readFile(path.join(target, String(files[0])), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.frame_number)).toEqual(Array.from({ length: gt.frameCount }, (_, i) => i + 1));

    for (const output of ['tracked', 'legacy'] as const) {
      // ground-truth track → tracker ids seen on it
      const idsByTruth = new Map<number, Set<number>>();
      let tracked = 0;
      for (const r of rows) {
        const truth = gt.frames[String(r.frame_number - 1)];
        const preds = r[output].predictions as Pred[];
        for (const p of preds) {
          expect(p.tracker_id, `${output} frame ${r.frame_number}`).toBeGreaterThan(0);
          // every square has its own class; the box must sit on that square
          const t = truth.find((q) => q.class === p.class);
          expect(t, `${output} frame ${r.frame_number} ${p.class}`).toBeDefined();
          expect(Math.abs(p.x - (t as GtBox).x)).toBeLessThanOrEqual(2);
          expect(Math.abs(p.y - (t as GtBox).y)).toBeLessThanOrEqual(2);
          const set = idsByTruth.get((t as GtBox).trackId) ?? new Set<number>();
          set.add(p.tracker_id as number);
          idsByTruth.set((t as GtBox).trackId, set);
          tracked++;
        }
      }
      const squares = new Set(Object.values(gt.frames).flatMap((f) => f.map((b) => b.trackId)));
      expect(idsByTruth.size, output).toBe(squares.size);
      for (const [truthId, ids] of idsByTruth)
        expect([...ids], `${output} square ${truthId}`).toHaveLength(1);
      const all = [...idsByTruth.values()].map((s) => [...s][0]);
      expect(new Set(all).size, `${output} ids distinct`).toBe(all.length);
      expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
      // every detection is tracked once its track is shown: a track starts from the first
      // detection above the activation score (the detector's first frames of a small square may
      // score lower) and shows from its second frame; the detector may also miss a square now
      // and then (the generator checks only every third frame against it)
      const detections = rows.reduce((n, r) => n + r.detections.predictions.length, 0);
      expect(detections).toBeGreaterThanOrEqual(squares.size * (gt.frameCount - 2));
      const short = rows
        .filter((r) => r[output].predictions.length < r.detections.predictions.length)
        .map((r) => r.frame_number);
      expect(tracked, `${output}: untracked detections on frames ${short}`).toBeGreaterThanOrEqual(
        detections - 2 * squares.size,
      );
    }

    // trackers_bytetrack matures tracks on their second frame; an id is new only on the first
    // frame it is shown
    expect(rows[0].tracked.predictions).toEqual([]);
    const firstShown = new Map<number, number>();
    for (const r of rows)
      for (const p of r.tracked.predictions as Pred[])
        if (!firstShown.has(p.tracker_id as number)) firstShown.set(p.tracker_id as number, r.frame_number);
    for (const r of rows) {
      const fresh = (r.new.predictions as Pred[]).map((p) => p.tracker_id);
      const expected = [...firstShown].filter(([, f]) => f === r.frame_number).map(([id]) => id);
      expect(fresh.sort(), `new instances on frame ${r.frame_number}`).toEqual(expected.sort());
    }
  });
});
