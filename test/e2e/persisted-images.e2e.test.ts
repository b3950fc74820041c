/**
 * Persisted image outputs over real processes (spec/workflows.md §2.13, §3.9; batch-api.md §5.6):
 * a workflow detection → bounding boxes → labels with outputs `predictions` and `annotated`; a
 * job with `persistImagesOutputs` and `imagesOutputsToBePersisted: ["annotated"]` exports one
 * JPEG per input image at `images/<image>/annotated.jpg`, of the input's size, with the box
 * outlines drawn in the class colour; without `persistImagesOutputs` nothing but results. A
 * video job persists one JPEG per processed frame at `images/<video>/<frame>/annotated.jpg`.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { putWorkflow } from '@visionbatch/cli';
import { DEFAULT_PALETTE } from '@visionbatch/engine/draw/colors';
import { CLASS_NAMES, generateVideo } from '@visionbatch/models';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import {
  bp,
  client,
  createJob,
  ds,
  exportResults,
  imageJobBody,
  MODEL_ID,
  registerModelAndWorkflow,
  stageImages,
  stages,
  startStack,
  waitTerminal,
} from './e2e-support.ts';
import type { Stack } from './stack.ts';

const VIS_WORKFLOW_ID = 'shapes-vis';
const VIS_WORKFLOW = {
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
      type: 'roboflow_core/bounding_box_visualization@v1',
      name: 'boxes',
      image: '$inputs.image',
      predictions: '$steps.det.predictions',
      thickness: 2,
    },
    {
      type: 'roboflow_core/label_visualization@v1',
      name: 'labels',
      image: '$steps.boxes.image',
      predictions: '$steps.det.predictions',
      text: 'Class and Confidence',
    },
  ],
  outputs: [
    { type: 'JsonField', name: 'predictions', selector: '$steps.det.predictions' },
    { type: 'JsonField', name: 'boxed', selector: '$steps.boxes.image' },
    { type: 'JsonField', name: 'annotated', selector: '$steps.labels.image' },
  ],
};

interface Box {
  class: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && !e.name.startsWith('.')) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

describe('persisted image outputs (api, scheduler, worker processes)', () => {
  let stack: Stack;
  let dir: string;
  let truth: Record<string, Box[]> = {};

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-e2e-persist-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'));
    await registerModelAndWorkflow(stack, dir);
    await putWorkflow(client(stack), VIS_WORKFLOW_ID, VIS_WORKFLOW);
    // 10 images: more than one processing task (8 images per task) and both JPEG and PNG inputs
    truth = (await stageImages(stack, dir, 'persist-in', 10, 21)).groundTruth as never;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const body = (persist: boolean, only?: string[]) => {
    const b = imageJobBody(stack, 'persist-in');
    return {
      ...b,
      processingSpecification: {
        ...(b.processingSpecification as object),
        workflowId: VIS_WORKFLOW_ID,
        persistImagesOutputs: persist,
        ...(only ? { imagesOutputsToBePersisted: only } : {}),
      },
    };
  };

  it('exports one annotated JPEG per image, of its size, with boxes in the class colour', async () => {
    await createJob(stack, 'persist-on', body(true, ['annotated']));
    const job = await waitTerminal(stack, 'persist-on', 120_000);
    expect(job.error).toBe(false);

    const exp = (await stages(stack, 'persist-on')).find((s) => s.processingStageName === 'export');
    const parts = await stack.call(
      'GET',
      `/data-staging/v1/external/${stack.workspace}/batches/${exp.outputBatches[0]}/parts`,
    );
    expect(parts.status).toBe(200);
    expect(parts.json.batchParts.map((p: { partName: string }) => p.partName).sort()).toEqual([
      'images',
      'results',
    ]);

    const target = path.join(dir, 'out-on');
    const rows = await exportResults(stack, 'persist-on', target);
    const names = Object.keys(truth).sort();
    expect(rows.map((r) => r.image).sort()).toEqual(names);
    const all = await filesUnder(target);
    const images = all.filter((f) => f.startsWith(`images${path.sep}`));
    // exactly `annotated` (not `boxed`), one per input image
    expect(images).toEqual(names.map((n) => path.join('images', n, 'annotated.jpg')));

    // results still deduct images
    const jsonl = all.filter((f) => f.endsWith('.jsonl'));
    const firstRow = JSON.parse((await readFile(path.join(target, jsonl[0]), 'utf8')).split('\n')[0]);
    expect(firstRow.annotated).toBe('<deducted_image>');
    expect(firstRow.boxed).toBe('<deducted_image>');

    for (const name of names) {
      const file = path.join(target, 'images', name, 'annotated.jpg');
      const bytes = await readFile(file);
      const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      const [, w, h] = /-(\d+)x(\d+)\.\w+$/.exec(name) as RegExpExecArray;
      expect([info.width, info.height]).toEqual([Number(w), Number(h)]);
      expect(info.channels).toBe(3);
      const near = (x: number, y: number, c: readonly number[]) => {
        // the outline is 2 px wide around a box within 2 px of the truth: look ±3 px across the edge
        for (let d = -3; d <= 3; d++) {
          for (const [px, py] of [
            [x + d, y],
            [x, y + d],
          ]) {
            if (px < 0 || py < 0 || px >= info.width || py >= info.height) continue;
            const i = (py * info.width + px) * 3;
            if (Math.abs(data[i] - c[0]) + Math.abs(data[i + 1] - c[1]) + Math.abs(data[i + 2] - c[2]) < 60)
              return true;
          }
        }
        return false;
      };
      for (const b of truth[name]) {
        const c = DEFAULT_PALETTE[CLASS_NAMES.indexOf(b.class)];
        const [x1, y1, x2, y2] = [
          b.x - b.width / 2,
          b.y - b.height / 2,
          b.x + b.width / 2,
          b.y + b.height / 2,
        ];
        // a label may cover part of an edge (its own box's top, a neighbour's side): any of three edges
        const hits = [
          near(Math.round(x1), Math.round(b.y), c),
          near(Math.round(x2), Math.round(b.y), c),
          near(Math.round(b.x), Math.round(y2), c),
        ];
        expect(hits.some(Boolean), `${name}: ${b.class} box at ${x1},${y1}`).toBe(true);
      }
    }
  }, 180_000);

  it('exports no images without persistImagesOutputs', async () => {
    await createJob(stack, 'persist-off', body(false, ['annotated']));
    const job = await waitTerminal(stack, 'persist-off', 120_000);
    expect(job.error).toBe(false);
    const target = path.join(dir, 'out-off');
    const rows = await exportResults(stack, 'persist-off', target);
    expect(rows).toHaveLength(Object.keys(truth).length);
    const all = await filesUnder(target);
    expect(all.filter((f) => f.endsWith('.jpg'))).toEqual([]);
    expect(all.every((f) => f.startsWith(`results${path.sep}`))).toBe(true);
  }, 180_000);

  it('persists one JPEG per processed video frame, named by the 1-based frame number', async () => {
    const clip = path.join(dir, 'clip.mp4');
    await generateVideo({ path: clip, seconds: 1, fps: 30, width: 320, height: 192, seed: 4 });
    const up = await stack.call(
      'POST',
      `${ds(stack)}/batches/persist-clips/upload/video?fileName=clip.mp4&displayName=clips`,
    );
    expect(up.status).toBe(200);
    const put = await fetch(up.json.signedURLDetails.uploadURL, {
      method: 'PUT',
      body: await readFile(clip),
    });
    expect(put.status).toBe(200);
    const created = await stack.call('POST', `${bp(stack)}/jobs/persist-video`, {
      type: 'simple-video-processing-v1',
      jobInput: { type: 'staging-batch-input-v1', batchId: 'persist-clips' },
      computeConfiguration: { type: 'compute-configuration-v2' },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: stack.workspace,
        workflowId: VIS_WORKFLOW_ID,
        persistImagesOutputs: true,
        imagesOutputsToBePersisted: ['annotated'],
        maxVideoFPS: 5,
      },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    const job = await waitTerminal(stack, 'persist-video', 120_000);
    expect(job.error).toBe(false);
    const target = path.join(dir, 'out-video');
    const rows = await exportResults(stack, 'persist-video', target);
    expect(rows.length).toBe(5);
    const jsonl = (await filesUnder(target)).filter((f) => f.endsWith('.jsonl'));
    const frames = (await readFile(path.join(target, jsonl[0]), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).frame_number as number);
    expect(frames).toEqual([1, 7, 13, 19, 25]);
    const images = (await filesUnder(target)).filter((f) => f.endsWith('.jpg'));
    expect(images).toEqual(
      frames.map((n) => path.join('images', 'clip.mp4', String(n).padStart(6, '0'), 'annotated.jpg')),
    );
    for (const f of images) {
      const meta = await sharp(await readFile(path.join(target, f))).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 320, 192]);
    }
  }, 180_000);
});
