import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { modelRecord } from '@visionbatch/engine/testing/records';
import { gridDetector } from '@visionbatch/engine/testing/tiny-models';
import { objectKeys } from '@visionbatch/shared/object-keys';
import { createObjectStore } from '@visionbatch/shared/object-store/index';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FromSlot, JobContext, ToSlot } from './protocol.ts';

/** The real thread entry: messages in and out exactly as protocol.ts says. */

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vb-slot-thread-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function nextMessage(w: Worker, pred: (m: FromSlot) => boolean): Promise<FromSlot> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromSlot) => {
      if (pred(m)) {
        w.off('message', onMessage);
        resolve(m);
      }
    };
    w.on('message', onMessage);
    w.once('error', reject);
  });
}

it('initialises, loads the models for an image task, runs it and answers with done', async () => {
  const storeConfig = { driver: 'fs' as const, dir: path.join(dir, 'objects') };
  const store = await createObjectStore(storeConfig);
  const weights = gridDetector({ width: 64, height: 64, cell: 16 });
  const record = modelRecord({
    modelId: 'grid/1',
    input: { width: 64, height: 64 },
    weightsKey: objectKeys.modelWeights('ws', 'grid/1'),
    weightsSha256: createHash('sha256').update(weights).digest('hex'),
  });
  await store.put(record.weightsKey, weights);
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#ff0000' } })
    .png()
    .toBuffer();
  await store.put(objectKeys.batchFile('ws', 'b1', '', 'red.png'), png);
  const context: JobContext = {
    workspace: 'ws',
    jobId: 'j',
    jobType: 'simple-image-processing-v1',
    workflow: {
      version: '1.0',
      inputs: [{ type: 'WorkflowImage', name: 'image' }],
      steps: [
        {
          type: 'ObjectDetectionModel',
          name: 'det',
          image: '$inputs.image',
          model_id: 'grid/1',
          class_agnostic_nms: true,
        },
      ],
      outputs: [{ type: 'JsonField', name: 'n', selector: '$steps.det.predictions' }],
    },
    models: { 'grid/1': record },
    workflowParameters: {},
    imageInputName: null,
    aggregationFormat: 'jsonl',
    persistImagesOutputs: false,
    imagesOutputsToBePersisted: null,
    maxVideoFPS: null,
    maxImageFailureRate: null,
    machineType: 'cpu',
  };
  // a .ts worker entry does not get the tsx loader on Node 20, hence the .mjs entry
  const w = new Worker(new URL('./slot-thread-entry.mjs', import.meta.url));
  try {
    const ready = nextMessage(w, () => true);
    w.postMessage({
      type: 'init',
      context,
      store: storeConfig,
      intraOpNumThreads: 1,
      cacheDir: path.join(dir, 'cache'),
    } satisfies ToSlot);
    expect(await ready).toEqual({ type: 'ready' });
    const loaded = nextMessage(w, (m) => m.type === 'models-loaded');
    const done = nextMessage(w, (m) => m.type === 'done' || m.type === 'error');
    w.postMessage({
      type: 'task',
      task: {
        kind: 'images',
        stage: 'processing',
        taskId: 't',
        input: { batchId: 'b1', part: '', files: ['red.png'] },
        output: { batchId: 'b2', part: 'results', fileName: 't.jsonl' },
      },
    } satisfies ToSlot);
    expect(await loaded).toEqual({ type: 'models-loaded', modelLoadMs: expect.any(Number) });
    const m = await done;
    expect(m).toMatchObject({
      type: 'done',
      taskId: 't',
      outcome: { processed: 1, failures: [], stats: { red: 16 } },
    });
    const line = JSON.parse(
      (await store.getBuffer(objectKeys.batchFile('ws', 'b2', 'results', 't.jsonl'))).toString(),
    );
    expect(line.n.predictions).toHaveLength(16);
  } finally {
    await w.terminate();
  }
});
