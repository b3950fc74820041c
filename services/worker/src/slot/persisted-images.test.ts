import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { OrtModelRuntime } from '@visionbatch/engine/model-runtime';
import { modelRecord } from '@visionbatch/engine/testing/records';
import { gridDetector } from '@visionbatch/engine/testing/tiny-models';
import { compileWorkflow } from '@visionbatch/engine/workflow/compiler';
import { objectKeys } from '@visionbatch/shared/object-keys';
import { createObjectStore, type ObjectStore } from '@visionbatch/shared/object-store/index';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { IMAGES_PART } from '@visionbatch/shared/tasks';
import sharp from 'sharp';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExportTask } from './export-task.ts';
import { runImageTask } from './image-task.ts';
import { keyPathOf, persistedImageName, persistedImagePath, persistsOutput } from './persisted-images.ts';
import type { ImageTask, JobContext } from './protocol.ts';

/** Persisting image outputs of image tasks (spec/workflows.md §3.8–3.9) and exporting them. */

const WS = 'acme';
let dir: string;
let store: ObjectStore;
let runtime: OrtModelRuntime;
const REC: ModelRecord = modelRecord({
  modelId: 'grid/1',
  input: { width: 64, height: 64 },
  paddingValue: 0,
  weightsKey: 'grid',
});

const WORKFLOW = {
  version: '1.0',
  inputs: [{ type: 'WorkflowImage', name: 'image' }],
  steps: [
    {
      type: 'roboflow_core/roboflow_object_detection_model@v2',
      name: 'det',
      images: '$inputs.image',
      model_id: 'grid/1',
    },
    {
      type: 'roboflow_core/bounding_box_visualization@v1',
      name: 'box',
      image: '$inputs.image',
      predictions: '$steps.det.predictions',
    },
    {
      type: 'roboflow_core/label_visualization@v1',
      name: 'label',
      image: '$steps.box.image',
      predictions: '$steps.det.predictions',
    },
    {
      type: 'roboflow_core/dynamic_crop@v1',
      name: 'crop',
      images: '$inputs.image',
      predictions: '$steps.det.predictions',
    },
  ],
  outputs: [
    { type: 'JsonField', name: 'predictions', selector: '$steps.det.predictions' },
    { type: 'JsonField', name: 'annotated', selector: '$steps.label.image' },
    { type: 'JsonField', name: 'boxed', selector: '$steps.box.image' },
    { type: 'JsonField', name: 'crops', selector: '$steps.crop.crops' },
  ],
};

/** 128² black with a red square at [0,32)² and a blue one at [64,96)². */
async function squares(): Promise<Buffer> {
  const raw = Buffer.alloc(128 * 128 * 3);
  for (let y = 0; y < 128; y++) {
    for (let x = 0; x < 128; x++) {
      if (x < 32 && y < 32) raw[(y * 128 + x) * 3] = 255;
      if (x >= 64 && x < 96 && y >= 64 && y < 96) raw[(y * 128 + x) * 3 + 2] = 255;
    }
  }
  return sharp(raw, { raw: { width: 128, height: 128, channels: 3 } })
    .png()
    .toBuffer();
}

function context(over: Partial<JobContext> = {}): JobContext {
  return {
    workspace: WS,
    jobId: 'job-1',
    jobType: 'simple-image-processing-v1',
    workflow: WORKFLOW,
    models: { 'grid/1': REC },
    workflowParameters: {},
    imageInputName: null,
    aggregationFormat: 'jsonl',
    persistImagesOutputs: true,
    imagesOutputsToBePersisted: null,
    maxVideoFPS: null,
    maxImageFailureRate: null,
    machineType: 'cpu',
    ...over,
  };
}

const task = (outBatch: string): ImageTask => ({
  kind: 'images',
  stage: 'processing',
  taskId: 't000000',
  input: { batchId: 'in', part: '', files: ['a.png', 'b%.png'] },
  output: { batchId: outBatch, part: 'results', fileName: 't000000.jsonl' },
});

async function run(ctx: JobContext, outBatch: string) {
  return runImageTask(
    {
      store,
      compiled: compileWorkflow(ctx.workflow, { models: ctx.models }),
      runtime,
      context: ctx,
      onProgress: () => {},
      cancelled: () => false,
    },
    task(outBatch),
  );
}

async function storedImages(batchId: string): Promise<string[]> {
  const names: string[] = [];
  for await (const o of store.listAll(`ws/${WS}/batches/${batchId}/${IMAGES_PART}/`))
    names.push(o.key.split('/').at(-1) as string);
  return names.sort();
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vb-persist-'));
  store = await createObjectStore({ driver: 'fs', dir: path.join(dir, 'objects'), fsync: false } as never);
  runtime = await OrtModelRuntime.load(
    { 'grid/1': REC },
    async () => gridDetector({ width: 64, height: 64, cell: 16 }),
    { machineType: 'cpu', intraOpNumThreads: 1 },
  );
  const png = await squares();
  await store.put(objectKeys.batchFile(WS, 'in', '', 'a.png'), png);
  await store.put(objectKeys.batchFile(WS, 'in', '', 'b%.png'), png);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('persisted image names', () => {
  it('follow the CLI key paths, with the frame number for videos', () => {
    expect(persistedImagePath('a.jpg', ['annotated'])).toBe('a.jpg/annotated.jpg');
    expect(persistedImagePath('a.jpg', ['crops', 1])).toBe('a.jpg/crops/1.jpg');
    expect(persistedImagePath('clip.mp4', ['vis'], 12)).toBe('clip.mp4/000012/vis.jpg');
    expect(persistedImagePath('a.jpg', ['out', '..', 'x/y'])).toBe('a.jpg/out/_/x_y.jpg');
  });

  it('are flat, reversible and safe as archive members', () => {
    for (const p of ['a.jpg/annotated.jpg', '50%/crops/0.jpg', 'a%2F.jpg/x.jpg']) {
      const name = persistedImageName(p);
      expect(name).not.toContain('/');
      expect(keyPathOf(name)).toBe(p);
    }
    expect(persistedImageName('a.jpg/crops/0.jpg')).toBe('a.jpg%2Fcrops%2F0.jpg');
    expect(keyPathOf('..%2F..%2Fetc.jpg')).toBe('_/_/etc.jpg');
    const long = `${'x'.repeat(190)}.jpg/annotated.jpg`;
    expect(persistedImageName(long)).toMatch(/^[0-9a-f]{64}\.jpg$/);
  });

  it('select outputs by imagesOutputsToBePersisted (all when absent or empty)', () => {
    expect(persistsOutput(context(), 'x')).toBe(true);
    expect(persistsOutput(context({ imagesOutputsToBePersisted: [] }), 'x')).toBe(true);
    expect(persistsOutput(context({ imagesOutputsToBePersisted: ['a'] }), 'x')).toBe(false);
    expect(persistsOutput(context({ imagesOutputsToBePersisted: ['a'] }), 'a')).toBe(true);
    expect(persistsOutput(context({ persistImagesOutputs: false }), 'a')).toBe(false);
  });
});

describe('image tasks with persistImagesOutputs', () => {
  it('writes each selected image output as a JPEG of the image size; results keep "<deducted_image>"', async () => {
    const outcome = await run(context({ imagesOutputsToBePersisted: ['annotated', 'crops'] }), 'out-1');
    expect(outcome.processed).toBe(2);
    expect(outcome.failures).toEqual([]);
    const expected = [
      'a.png%2Fannotated.jpg',
      'a.png%2Fcrops%2F0.jpg',
      'a.png%2Fcrops%2F1.jpg',
      'b%25.png%2Fannotated.jpg',
      'b%25.png%2Fcrops%2F0.jpg',
      'b%25.png%2Fcrops%2F1.jpg',
    ];
    expect(await storedImages('out-1')).toEqual(expected);
    expect(outcome.extraFiles?.map((f) => f.fileName).sort()).toEqual(expected);
    for (const f of outcome.extraFiles ?? []) {
      expect(f.part).toBe(IMAGES_PART);
      expect(f.contentType).toBe('images');
      const bytes = await store.getBuffer(objectKeys.batchFile(WS, 'out-1', IMAGES_PART, f.fileName));
      expect(bytes.length).toBe(f.size);
      const meta = await sharp(bytes).metadata();
      expect(meta.format).toBe('jpeg');
      if (f.fileName.includes('annotated')) expect([meta.width, meta.height]).toEqual([128, 128]);
      else expect([meta.width, meta.height]).toEqual([32, 32]);
    }
    // the annotated image has the box outline of the red square (class 0: DEFAULT palette A351FB)
    const annotated = await store.getBuffer(
      objectKeys.batchFile(WS, 'out-1', IMAGES_PART, 'a.png%2Fannotated.jpg'),
    );
    const { data } = await sharp(annotated).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => [...data.subarray((y * 128 + x) * 3, (y * 128 + x) * 3 + 3)];
    const [r, g, b] = at(32, 16); // right edge of the red square's box
    expect(Math.abs(r - 0xa3) + Math.abs(g - 0x51) + Math.abs(b - 0xfb)).toBeLessThan(60);
    const results = await store.getBuffer(objectKeys.batchFile(WS, 'out-1', 'results', 't000000.jsonl'));
    const row = JSON.parse(results.toString('utf8').split('\n')[0]);
    expect(row.annotated).toBe('<deducted_image>');
    expect(row.crops).toEqual(['<deducted_image>', '<deducted_image>']);

    // a retry writes the same names again (overwrites, no new files)
    const again = await run(context({ imagesOutputsToBePersisted: ['annotated', 'crops'] }), 'out-1');
    expect(again.extraFiles?.map((f) => f.fileName).sort()).toEqual(expected);
    expect(await storedImages('out-1')).toEqual(expected);
  });

  it('writes every image output when no list is given, and nothing when persistImagesOutputs is false', async () => {
    const all = await run(context(), 'out-2');
    expect((all.extraFiles ?? []).length).toBe(2 * 4);
    expect(await storedImages('out-2')).toContain('a.png%2Fboxed.jpg');
    const none = await run(context({ persistImagesOutputs: false }), 'out-3');
    expect(none.extraFiles).toEqual([]);
    expect(await storedImages('out-3')).toEqual([]);
  });

  it('exports persisted images as tar.gz members named by key path', async () => {
    const files = await storedImages('out-1');
    const outcome = await runExportTask(store, WS, {
      kind: 'export',
      stage: 'export',
      taskId: 'e000001',
      input: { batchId: 'out-1', part: IMAGES_PART, files, keyPaths: true },
      output: { batchId: 'exp', part: IMAGES_PART, fileName: 'images-0001.tar.gz' },
    });
    expect(outcome.processed).toBe(files.length);
    const members: string[] = [];
    const ex = extract();
    ex.on('entry', (h, s, next) => {
      members.push(h.name);
      s.on('end', next);
      s.resume();
    });
    const done = new Promise<void>((resolve) => ex.on('finish', () => resolve()));
    (await store.get(outcome.outputKey as string)).pipe(createGunzip()).pipe(ex);
    await done;
    expect(members.sort()).toEqual([
      'a.png/annotated.jpg',
      'a.png/crops/0.jpg',
      'a.png/crops/1.jpg',
      'b%.png/annotated.jpg',
      'b%.png/crops/0.jpg',
      'b%.png/crops/1.jpg',
    ]);
  });
});
