import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { modelRecord } from '@visionbatch/engine/testing/records';
import { channelClassifier, gridDetector } from '@visionbatch/engine/testing/tiny-models';
import { objectKeys } from '@visionbatch/shared/object-keys';
import { createObjectStore, type ObjectStore } from '@visionbatch/shared/object-store/index';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import sharp from 'sharp';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FromSlot, JobContext, Task, ToSlot } from './protocol.ts';
import { SlotRunner } from './slot-runner.ts';

const WS = 'acme';
let dir: string;
let store: ObjectStore;
let storeConfig: { driver: 'fs'; dir: string };
let models: Record<string, ModelRecord>;

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function twoSquares(): Promise<Buffer> {
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

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vb-slot-'));
  storeConfig = { driver: 'fs', dir: path.join(dir, 'objects') };
  store = await createObjectStore({ ...storeConfig, fsync: false });
  const det = gridDetector({ width: 64, height: 64, cell: 16 });
  const cls = channelClassifier({ width: 16, height: 16 });
  models = {
    'grid/1': modelRecord({
      modelId: 'grid/1',
      input: { width: 64, height: 64 },
      paddingValue: 0,
      weightsKey: objectKeys.modelWeights(WS, 'grid/1'),
      weightsSha256: sha(det),
    }),
    'colour/1': modelRecord({
      modelId: 'colour/1',
      task: 'classification',
      postProcessing: 'softmax',
      input: { width: 16, height: 16 },
      resizeMode: 'stretch',
      weightsKey: objectKeys.modelWeights(WS, 'colour/1'),
      weightsSha256: sha(cls),
    }),
  };
  await store.put(models['grid/1'].weightsKey, det);
  await store.put(models['colour/1'].weightsKey, cls);
  const batch = (name: string) => objectKeys.batchFile(WS, 'in-batch', '', name);
  await store.put(batch('b-squares.png'), await twoSquares());
  await store.put(batch('a-squares.png'), await twoSquares());
  await store.put(batch('c-corrupt.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5]));
  await store.put(batch('d-empty.jpg'), Buffer.alloc(0));
  const jpg = await sharp(await twoSquares())
    .jpeg()
    .toBuffer();
  await store.put(batch('e-truncated.jpg'), jpg.subarray(0, jpg.length - 200));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
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
      type: 'roboflow_core/dynamic_crop@v1',
      name: 'crop',
      images: '$inputs.image',
      predictions: '$steps.det.predictions',
    },
    {
      type: 'roboflow_core/roboflow_classification_model@v2',
      name: 'cls',
      images: '$steps.crop.crops',
      model_id: 'colour/1',
    },
  ],
  outputs: [
    { type: 'JsonField', name: 'det', selector: '$steps.det.predictions' },
    { type: 'JsonField', name: 'cls', selector: '$steps.cls.predictions' },
  ],
};

function context(over: Partial<JobContext> = {}): JobContext {
  return {
    workspace: WS,
    jobId: 'job-1',
    jobType: 'simple-image-processing-v1',
    workflow: WORKFLOW,
    models,
    workflowParameters: {},
    imageInputName: null,
    aggregationFormat: 'jsonl',
    persistImagesOutputs: false,
    imagesOutputsToBePersisted: null,
    maxVideoFPS: null,
    maxImageFailureRate: null,
    machineType: 'cpu',
    ...over,
  };
}

/** A runner whose messages are collected. */
function harness() {
  const messages: FromSlot[] = [];
  const runner = new SlotRunner({
    post: (m) => messages.push(m),
    openStore: (c) => createObjectStore({ ...c, fsync: false } as never),
  });
  const send = async (m: ToSlot) => {
    runner.handle(m);
    await runner.idle();
  };
  return { messages, runner, send };
}

const init = (over: Partial<JobContext> = {}, cacheDir = path.join(dir, 'cache')): ToSlot => ({
  type: 'init',
  context: context(over),
  store: storeConfig,
  intraOpNumThreads: 1,
  cacheDir,
});

/** The weights files in a cache folder (none when it was never created). */
const cached = (cacheDir: string) => readdir(cacheDir).catch(() => [] as string[]);

const imageTask = (files: string[], fileName = 't1.jsonl'): Task => ({
  kind: 'images',
  stage: 'processing',
  taskId: 't1',
  input: { batchId: 'in-batch', part: '', files },
  output: { batchId: 'out-batch', part: 'results', fileName },
});

describe('SlotRunner', () => {
  it('loads models on the first image task, writes sorted JSONL results and reports failures', async () => {
    const { messages, runner, send } = harness();
    const cacheDir = path.join(dir, 'cache-image-task');
    await send(init({ maxImageFailureRate: 0.5 }, cacheDir));
    expect(messages).toEqual([{ type: 'ready' }]);
    expect(await cached(cacheDir)).toEqual([]);

    await send({
      type: 'task',
      task: imageTask([
        'b-squares.png',
        'missing.png',
        'c-corrupt.jpg',
        'a-squares.png',
        'd-empty.jpg',
        '../escape.png',
      ]),
    });
    const done = messages.find((m) => m.type === 'done');
    expect(done).toBeDefined();
    if (done?.type !== 'done') throw new Error('no done message');
    expect(messages[1]).toEqual({ type: 'models-loaded', modelLoadMs: expect.any(Number) });
    expect((await cached(cacheDir)).sort()).toEqual(
      [`${models['colour/1'].weightsSha256}.onnx`, `${models['grid/1'].weightsSha256}.onnx`].sort(),
    );
    const o = done.outcome;
    expect(o.processed).toBe(2);
    expect(o.failures.map((f) => [f.file, f.reason])).toEqual([
      ['missing.png', 'not-found'],
      ['c-corrupt.jpg', 'corrupt-image'],
      ['d-empty.jpg', 'empty-file'],
      ['../escape.png', 'invalid-file-name'],
    ]);
    expect(o.thresholdExceeded).toBe(true); // 4 failures > 0.5 × 6
    expect(o.stats).toEqual({ red: 2, blue: 2 });
    expect(o.outputKey).toBe(objectKeys.batchFile(WS, 'out-batch', 'results', 't1.jsonl'));
    const body = (await store.getBuffer(o.outputKey as string)).toString();
    expect(o.outputBytes).toBe(Buffer.byteLength(body));
    const lines = body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.image)).toEqual(['a-squares.png', 'b-squares.png']);
    expect(Object.keys(lines[0])).toEqual(['det', 'cls', 'image']);
    expect(lines[0].cls.map((c: { top: string }) => c.top)).toEqual(['red', 'blue']);
    expect(
      body.startsWith('{"det": {"image": {"width": 128, "height": 128}, "predictions": [{"width": 32, '),
    ).toBe(true);
    const progress = messages.filter((m) => m.type === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toEqual({ type: 'progress', taskId: 't1', done: 6, total: 6 });

    // the next task uses the loaded models
    messages.length = 0;
    await send({ type: 'task', task: imageTask(['a-squares.png'], 't2.jsonl') });
    expect(messages.map((m) => m.type)).toEqual(['progress', 'done']);
    await runner.close();
  });

  it('writes CSV and uses the default threshold of 10 files', async () => {
    const { messages, runner, send } = harness();
    await send(init({ aggregationFormat: 'csv' }));
    await send({ type: 'task', task: imageTask(['a-squares.png', 'missing.png'], 't1.csv') });
    const done = messages.find((m) => m.type === 'done');
    if (done?.type !== 'done') throw new Error('no done message');
    expect(done.outcome.thresholdExceeded).toBe(false);
    const csv = (await store.getBuffer(done.outcome.outputKey as string)).toString();
    const [header, row] = csv.split('\n');
    expect(header).toBe('det,cls,image');
    expect(row.startsWith('"{""image"": {""width"": 128')).toBe(true);
    expect(row.endsWith(',a-squares.png')).toBe(true);

    // nothing processed: an empty results file is still written (a retry overwrites it)
    messages.length = 0;
    await send({ type: 'task', task: imageTask(['missing.png'], 'empty.csv') });
    const empty = messages.find((m) => m.type === 'done');
    if (empty?.type !== 'done') throw new Error('no done message');
    expect(empty.outcome).toMatchObject({ processed: 0, outputBytes: 0, stats: {} });
    expect((await store.getBuffer(empty.outcome.outputKey as string)).length).toBe(0);
    await runner.close();
  });

  it('reports a JPEG truncated after its header as corrupt-image, also without a full decode', async () => {
    for (const workflow of [
      WORKFLOW,
      { ...WORKFLOW, steps: WORKFLOW.steps.slice(0, 1), outputs: WORKFLOW.outputs.slice(0, 1) },
    ]) {
      const { messages, runner, send } = harness();
      await send(init({ workflow }));
      await send({ type: 'task', task: imageTask(['e-truncated.jpg']) });
      const done = messages.find((m) => m.type === 'done');
      if (done?.type !== 'done') throw new Error(JSON.stringify(messages));
      expect(done.outcome.failures.map((f) => f.reason)).toEqual(['corrupt-image']);
      await runner.close();
    }
  });

  it('stops after the current image when cancelled, and before starting a queued task', async () => {
    const messages: FromSlot[] = [];
    const runner: SlotRunner = new SlotRunner({
      post: (m) => {
        messages.push(m);
        // the main thread cancels as soon as it hears of the first image
        if (m.type === 'progress') runner.handle({ type: 'cancel' });
      },
      openStore: (c) => createObjectStore({ ...c, fsync: false } as never),
    });
    runner.handle(init());
    await runner.idle();
    const key = objectKeys.batchFile(WS, 'out-batch', 'results', 'cancelled.jsonl');
    runner.handle({
      type: 'task',
      task: imageTask(['a-squares.png', 'b-squares.png', 'a-squares.png'], 'cancelled.jsonl'),
    });
    await runner.idle();
    expect(messages.slice(1)).toEqual([
      { type: 'models-loaded', modelLoadMs: expect.any(Number) },
      { type: 'progress', taskId: 't1', done: 1, total: 3 },
      { type: 'error', taskId: 't1', message: 'task t1 was cancelled', permanent: false },
    ]);
    expect(await store.exists(key)).toBe(false);

    messages.length = 0;
    runner.handle({ type: 'task', task: { ...imageTask(['a-squares.png']), taskId: 't2' } });
    runner.handle({ type: 'cancel' });
    await runner.idle();
    expect(messages).toEqual([
      { type: 'error', taskId: 't2', message: 'task t2 was cancelled', permanent: false },
    ]);

    // a cancel while idle does not touch the next task
    messages.length = 0;
    runner.handle({ type: 'task', task: { ...imageTask(['a-squares.png']), taskId: 't3' } });
    await runner.idle();
    expect(messages.at(-1)).toMatchObject({ type: 'done', taskId: 't3' });
    await runner.close();
  });

  it('packs result files into one tar.gz, reporting missing ones, without loading the models', async () => {
    const { messages, runner, send } = harness();
    const results = (n: string) => objectKeys.batchFile(WS, 'out-batch', 'results', n);
    await store.put(results('r1.jsonl'), '{"a": 1}\n');
    await store.put(results('r2.jsonl'), Buffer.alloc(200_000, 'x'));
    const cacheDir = path.join(dir, 'cache-export');
    await send(init({}, cacheDir));
    const task: Task = {
      kind: 'export',
      stage: 'export',
      taskId: 'e1',
      input: { batchId: 'out-batch', part: 'results', files: ['r1.jsonl', 'gone.jsonl', 'r2.jsonl'] },
      output: { batchId: 'export-batch', part: '', fileName: 'results-0.tar.gz' },
    };
    await send({ type: 'task', task });
    const done = messages.find((m) => m.type === 'done');
    if (done?.type !== 'done') throw new Error(JSON.stringify(messages));
    // the task is done: had it loaded the models, their message and weights would be there by now
    expect(messages.map((m) => m.type)).toEqual(['ready', 'done']);
    expect(await cached(cacheDir)).toEqual([]);
    expect(done.outcome).toMatchObject({
      processed: 2,
      thresholdExceeded: false,
      failures: [{ file: 'gone.jsonl', reason: 'not-found' }],
    });
    const archive = await store.getBuffer(done.outcome.outputKey as string);
    expect(done.outcome.outputBytes).toBe(archive.length);
    const members: Array<{ name: string; type: string; body: Buffer }> = [];
    const ex = extract();
    Readable.from([archive])
      .pipe(createGunzip())
      .pipe(ex as unknown as NodeJS.WritableStream);
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      members.push({ name: entry.header.name, type: entry.header.type, body: Buffer.concat(chunks) });
    }
    expect(members.map((m) => [m.name, m.type, m.body.length])).toEqual([
      ['r1.jsonl', 'file', 9],
      ['r2.jsonl', 'file', 200_000],
    ]);
    expect(members[0].body.toString()).toBe('{"a": 1}\n');

    await send({ type: 'task', task: { ...task, taskId: 'e2', input: { ...task.input, files: ['../x'] } } });
    expect(messages.at(-1)).toMatchObject({ type: 'error', taskId: 'e2', permanent: true });
    await runner.close();
  });

  it('fails init with a message naming the step for a bad workflow or unknown model', async () => {
    const { messages, send } = harness();
    const bad = { ...WORKFLOW, steps: [{ ...WORKFLOW.steps[0], model_id: 'nope/1' }] };
    await send(init({ workflow: bad }));
    expect(messages).toEqual([
      {
        type: 'init-failed',
        message: expect.stringContaining('step "det", field "model_id": unknown model id "nope/1"'),
      },
    ]);
  });

  it('fails every task that needs the models, permanently, when the weights do not match their sha256', async () => {
    const { messages, runner, send } = harness();
    const wrong = { ...models, 'grid/1': { ...models['grid/1'], weightsSha256: 'f'.repeat(64) } };
    await send(init({ models: wrong }));
    const failed = {
      type: 'error',
      taskId: 't1',
      message: expect.stringContaining('have sha256'),
      permanent: true,
    };
    await send({ type: 'task', task: imageTask(['a-squares.png']) });
    await send({ type: 'task', task: imageTask(['b-squares.png']) });
    expect(messages).toEqual([{ type: 'ready' }, failed, failed]);
    await runner.close();
  });

  it('answers a task before init with a retryable error', async () => {
    const { messages, send } = harness();
    await send({ type: 'task', task: imageTask(['a-squares.png']) });
    expect(messages).toEqual([
      { type: 'error', taskId: 't1', message: 'the slot has not been initialised', permanent: false },
    ]);
  });
});
