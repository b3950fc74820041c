/**
 * Bring your own model, over real processes: an Ultralytics-style export is registered with the CLI
 * and no config (class names, input size and task come from its ONNX metadata and graph), a job
 * runs it and the results name the classes. A config may override the file, in snake_case; unknown
 * keys are refused. A workflow field the blocks do not know is saved with a warning that the job's
 * logs repeat.
 */
import path from 'node:path';
import { putWorkflow, uploadModel } from '@visionbatch/cli';
import { detectionWorkflow, writeModels } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import {
  client,
  createJob,
  exportResults,
  imageJobBody,
  logs,
  score,
  stageImages,
  startStack,
  WORKFLOW_ID,
  waitTerminal,
} from './e2e-support.ts';
import type { Stack } from './stack.ts';

const MODEL_ID = 'shapes-det/1';

describe('an Ultralytics export registered without a config', () => {
  let stack: Stack;
  let dir: string;
  let onnx: string;

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-e2e-own-model-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'));
    const [model] = await writeModels(path.join(dir, 'models'), { names: ['shapes-det'], ultralytics: true });
    onnx = model.onnxPath;
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('runs a job whose results name the classes from the metadata; the workflow warning reaches the logs', async () => {
    const answer = (await uploadModel(client(stack), { modelId: MODEL_ID, weights: onnx })) as {
      model: Record<string, unknown>;
      configSources: Record<string, string>;
    };
    expect(answer.model).toMatchObject({
      classNames: ['red', 'green', 'blue'],
      task: 'object-detection',
      input: { width: 640, height: 640 },
    });
    expect(answer.configSources).toMatchObject({ classNames: 'metadata', task: 'metadata' });

    // `iou` is not a field of the block: saved (as Roboflow does), with a warning.
    const wf = detectionWorkflow(MODEL_ID);
    (wf.steps as Array<Record<string, unknown>>)[0].iou = 0.45;
    const saved = (await putWorkflow(client(stack), WORKFLOW_ID, wf)) as { warnings: unknown[] };
    expect(saved.warnings).toEqual([
      {
        step: 'det',
        field: 'iou',
        message:
          '"iou" is not a field of roboflow_core/roboflow_object_detection_model@v2; did you mean "iou_threshold"?',
      },
    ]);

    const data = await stageImages(stack, dir, 'own-model', 12, 21);
    await createJob(stack, 'own-model-job', imageJobBody(stack, 'own-model'));
    const job = await waitTerminal(stack, 'own-model-job');
    expect(job.error, JSON.stringify(job.lastNotification)).toBe(false);
    const rows = await exportResults(stack, 'own-model-job', path.join(dir, 'out'));
    expect(rows).toHaveLength(12);
    const classes = new Set(rows.flatMap((r) => r.predictions.map((p: { class: string }) => p.class)));
    expect([...classes].sort()).toEqual(['blue', 'green', 'red']);
    const s = score(data.groundTruth as never, rows);
    expect(s.precision).toBe(1);
    expect(s.recall).toBe(1);

    const warnings = (await logs(stack, 'own-model-job')).logs.filter(
      (l) => l.logType === 'workflow-warning',
    );
    expect(warnings).toEqual([
      expect.objectContaining({ severity: 'warning', payload: expect.objectContaining({ field: 'iou' }) }),
    ]);
  });

  it('accepts a snake_case config over the metadata and refuses unknown keys with the accepted ones', async () => {
    const cfg = await uploadModel(client(stack), {
      modelId: 'shapes-det/2',
      weights: onnx,
      config: { class_names: ['r', 'g', 'b'], resize_mode: 'stretch', defaults: { iou_threshold: 0.45 } },
    });
    expect((cfg as { model: Record<string, unknown> }).model).toMatchObject({
      classNames: ['r', 'g', 'b'],
      resizeMode: 'stretch',
      defaults: { iouThreshold: 0.45, confidence: 0.4 },
    });
    await expect(
      uploadModel(client(stack), { modelId: 'shapes-det/3', weights: onnx, config: { classes: ['a'] } }),
    ).rejects.toThrow(/unknown key "classes".*accepted: task, architecture, classNames \(class_names\)/);
  });
});
