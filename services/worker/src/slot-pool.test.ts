import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { modelRecord } from '@visionbatch/engine/testing/records';
import { gridDetector } from '@visionbatch/engine/testing/tiny-models';
import { createLogger } from '@visionbatch/shared/logger';
import { objectKeys } from '@visionbatch/shared/object-keys';
import { createObjectStore, type ObjectStore } from '@visionbatch/shared/object-store/index';
import type { JobContext, Task } from '@visionbatch/shared/tasks';
import { Registry } from 'prom-client';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { workerMetrics } from './metrics.ts';
import { SlotPool } from './slot-pool.ts';

/**
 * A fresh machine's slots (real worker threads) load the job's models only for a task that needs
 * them: a lease of a job in its export stage never loads them, and the model-load metric counts
 * only real loads.
 */

const WS = 'ws';
let dir: string;
let store: ObjectStore;
const storeConfig = () => ({ driver: 'fs' as const, dir: path.join(dir, 'objects') });

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vb-slot-pool-'));
  store = await createObjectStore(storeConfig());
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('runs an export task without loading the models; the first image task loads them once per slot', async () => {
  const weights = gridDetector({ width: 64, height: 64, cell: 16 });
  const record = modelRecord({
    modelId: 'grid/1',
    input: { width: 64, height: 64 },
    weightsKey: objectKeys.modelWeights(WS, 'grid/1'),
    weightsSha256: createHash('sha256').update(weights).digest('hex'),
  });
  await store.put(record.weightsKey, weights);
  await store.put(objectKeys.batchFile(WS, 'results', 'results', 't1.jsonl'), '{"n": 1}\n');
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#ff0000' } })
    .png()
    .toBuffer();
  await store.put(objectKeys.batchFile(WS, 'in', '', 'red.png'), png);
  const context: JobContext = {
    workspace: WS,
    jobId: 'j',
    jobType: 'simple-image-processing-v1',
    workflow: {
      version: '1.0',
      inputs: [{ type: 'WorkflowImage', name: 'image' }],
      steps: [{ type: 'ObjectDetectionModel', name: 'det', image: '$inputs.image', model_id: 'grid/1' }],
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
  const registry = new Registry();
  const metrics = workerMetrics(registry);
  const loadsCounted = async () =>
    (await metrics.modelLoad.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value;
  const cacheDir = path.join(dir, 'cache');
  const weightsCached = () => readdir(cacheDir).catch(() => [] as string[]);
  // as the machine wires it: every load a slot reports is observed
  const { pool } = await SlotPool.start(
    2,
    { context, store: storeConfig(), intraOpNumThreads: 1, cacheDir },
    createLogger('test', 'silent'),
    (ms) => metrics.modelLoad.observe(ms / 1000),
  );
  try {
    const exportTask: Task = {
      kind: 'export',
      stage: 'export',
      taskId: 'e1',
      input: { batchId: 'results', part: 'results', files: ['t1.jsonl'] },
      output: { batchId: 'export', part: '', fileName: 'results-0.tar.gz' },
    };
    const exported = await pool.run(exportTask, () => {});
    expect(exported).toMatchObject({ processed: 1, failures: [] });
    // the export is done, and a slot reports a load before the task that caused it: none happened
    expect(await loadsCounted()).toBe(0);
    expect(await weightsCached()).toEqual([]);

    const imageTask: Task = {
      kind: 'images',
      stage: 'processing',
      taskId: 't2',
      input: { batchId: 'in', part: '', files: ['red.png'] },
      output: { batchId: 'out', part: 'results', fileName: 't2.jsonl' },
    };
    expect(await pool.run(imageTask, () => {})).toMatchObject({ processed: 1, failures: [] });
    expect(await loadsCounted()).toBe(1);
    expect(await weightsCached()).toEqual([`${record.weightsSha256}.onnx`]);
    // the same slot (the first free one) runs the next task with the models it loaded
    expect(await pool.run({ ...imageTask, taskId: 't3' }, () => {})).toMatchObject({ processed: 1 });
    expect(await loadsCounted()).toBe(1);
  } finally {
    await pool.close();
  }
});
