import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildModel, generateImageDataset, type ImageDatasetResult, modelConfig } from '@visionbatch/models';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../image-decode.ts';
import { OrtModelRuntime } from '../model-runtime.ts';
import { modelRecord } from '../testing/records.ts';
import { compileWorkflow } from './compiler.ts';
import { runImage } from './executor.ts';

/**
 * End to end against the project's synthetic models (`@visionbatch/models`): the shapes detector
 * finds each generated square within ~1.5 px (README of packages/models), through our decode,
 * letterbox, NMS and back-mapping; the shapes classifier names the colour of each crop.
 */

let dir: string;
let dataset: ImageDatasetResult;
let runtime: OrtModelRuntime;
let models: Record<string, ModelRecord>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vb-shapes-'));
  dataset = await generateImageDataset({ dir, count: 8, seed: 7 });
  const det = modelConfig('shapes-det');
  const cls = modelConfig('shapes-cls');
  models = {
    'shapes-det/1': modelRecord({ ...det, modelId: 'shapes-det/1', weightsKey: 'det' }),
    'shapes-cls/1': modelRecord({ ...cls, modelId: 'shapes-cls/1', weightsKey: 'cls' }),
  };
  runtime = await OrtModelRuntime.load(
    models,
    async (r) => buildModel(r.weightsKey === 'det' ? 'shapes-det' : 'shapes-cls'),
    { machineType: 'cpu', intraOpNumThreads: 1 },
  );
}, 120_000);

afterAll(async () => {
  await runtime?.release();
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
      model_id: 'shapes-det/1',
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
      model_id: 'shapes-cls/1',
    },
  ],
  outputs: [
    { type: 'JsonField', name: 'det', selector: '$steps.det.predictions' },
    { type: 'JsonField', name: 'cls', selector: '$steps.cls.predictions' },
  ],
};

type Pred = { class: string; x: number; y: number; width: number; height: number };

describe('shapes-det / shapes-cls parity', () => {
  it('recovers every ground-truth square and classifies its crop', async () => {
    const compiled = compileWorkflow(WORKFLOW, { models });
    for (const file of dataset.files) {
      const truth = [...dataset.groundTruth[file]].sort((a, b) => a.x - b.x);
      const bytes = await readFile(path.join(dir, file));
      const r = await runImage(compiled, runtime, await decodeImage(bytes, { full: true }));
      const preds = [...(r.det as { predictions: Pred[] }).predictions].sort((a, b) => a.x - b.x);
      expect(
        preds.map((p) => p.class),
        file,
      ).toEqual(truth.map((t) => t.class));
      preds.forEach((p, i) => {
        const t = truth[i];
        // corners are rounded to whole pixels, so centres and sizes can move by up to ~2 px
        expect(Math.abs(p.x - t.x), `${file} x`).toBeLessThanOrEqual(2);
        expect(Math.abs(p.y - t.y), `${file} y`).toBeLessThanOrEqual(2);
        expect(Math.abs(p.width - t.width), `${file} w`).toBeLessThanOrEqual(3);
        expect(Math.abs(p.height - t.height), `${file} h`).toBeLessThanOrEqual(3);
      });
      const tops = (r.cls as Array<{ top: string }>).map((c) => c.top);
      const detClasses = (r.det as { predictions: Pred[] }).predictions.map((p) => p.class);
      expect(tops, file).toEqual(detClasses);
    }
  }, 60_000);
});
