/**
 * The workflow registry and job creation compile definitions with the worker's compiler: a
 * definition that could not run is refused with a 400 naming the step and field, at save time and
 * when a job is created (not when a machine picks the job up).
 */
import { buildShapesCls, buildShapesDet, detectionWorkflow, modelConfig } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import { type AppHarness, startApiHarness } from './app-harness.ts';

const WF = '/workflows/v1/external/ws-a/workflows';
const MD = '/models/v1/external/ws-a/models';
const JOBS = '/batch-processing/v1/external/ws-a/jobs';

function modelForm(config: unknown, weights: Uint8Array) {
  const b = `----vbw${Math.random().toString(16).slice(2)}`;
  const payload = Buffer.concat([
    Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="config"\r\n\r\n${JSON.stringify(config)}\r\n`,
    ),
    Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="weights"; filename="m.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    Buffer.from(weights),
    Buffer.from(`\r\n--${b}--\r\n`),
  ]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${b}` } };
}

const step = (over: Record<string, unknown>) => ({
  type: 'roboflow_core/roboflow_object_detection_model@v2',
  name: 'det',
  images: '$inputs.image',
  model_id: 'shapes/1',
  ...over,
});
const workflow = (steps: unknown[], outputs?: unknown[]) => ({
  version: '1.0',
  inputs: [
    { type: 'WorkflowImage', name: 'image' },
    { type: 'WorkflowParameter', name: 'model', default_value: 'shapes/1' },
  ],
  steps,
  outputs: outputs ?? [{ type: 'JsonField', name: 'predictions', selector: '$steps.det.predictions' }],
});

describe('workflow registry and job creation compile the definition', () => {
  let h: AppHarness;
  const put = (id: string, def: unknown) =>
    h.app.inject({ method: 'PUT', url: `${WF}/${id}?api_key=key-a`, payload: def as object });
  beforeAll(async () => {
    const dir = await useTempDir();
    await flushRedisTestDb();
    h = await startApiHarness({ redisUrl: redisTestUrl(), store: { driver: 'fs', dir } });
    for (const [id, name, weights] of [
      ['shapes/1', 'shapes-det', buildShapesDet()],
      ['cls/1', 'shapes-cls', buildShapesCls()],
    ] as const) {
      const res = await h.app.inject({
        method: 'PUT',
        url: `${MD}/${id}?api_key=key-a`,
        ...modelForm(modelConfig(name), weights),
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    await h.deps.batches.ensure('ws-a', 'imgs', {
      displayName: 'imgs',
      batchType: 'simple-batch',
      contentType: 'images',
    });
    await h.deps.batches.putFile('ws-a', 'imgs', '', 'a.jpg', { contentType: 'images', size: 10 });
  });
  afterAll(() => h?.close());

  it('saves a runnable workflow, and one naming a model registered later', async () => {
    expect((await put('ok', detectionWorkflow('shapes/1'))).statusCode).toBe(200);
    const later = await put('later', detectionWorkflow('not-yet/1'));
    expect(later.statusCode, later.body).toBe(200);
  });

  it('refuses an unknown block, listing the supported ones', async () => {
    const res = await put('bad-block', workflow([step({ type: 'roboflow_core/sam2@v1' })]));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VB_ERR_VALIDATION', field: 'steps' });
    expect(res.json().error).toMatch(/unsupported block types: "det" \(roboflow_core\/sam2@v1\)/);
    expect(res.json().error).toContain('roboflow_core/roboflow_object_detection_model@v2');
  });

  it('refuses a bad field value, a selector of the wrong kind and a model of the wrong task, naming step and field', async () => {
    const conf = await put('bad-conf', workflow([step({ confidence: 3 })]));
    expect(conf.statusCode).toBe(400);
    expect(conf.json().field).toBe('steps.det.confidence');

    const kind = await put(
      'bad-kind',
      workflow([
        step({}),
        {
          type: 'roboflow_core/dynamic_crop@v1',
          name: 'crop',
          images: '$inputs.image',
          predictions: '$steps.det.inference_id',
        },
      ]),
    );
    expect(kind.statusCode, kind.body).toBe(400);
    expect(kind.json().field).toBe('steps.crop.predictions');

    const task = await put('bad-task', workflow([step({ model_id: 'cls/1' })]));
    expect(task.statusCode).toBe(400);
    expect(task.json().field).toBe('steps.det.model_id');
    expect(task.json().error).toMatch(/classification/);
    // nothing was stored for the refused definitions
    expect((await h.app.inject({ method: 'GET', url: `${WF}/bad-task?api_key=key-a` })).statusCode).toBe(404);
  });

  it('compiles again at job creation, with the job parameters', async () => {
    expect((await put('param', workflow([step({ model_id: '$inputs.model' })]))).statusCode).toBe(200);
    const body = (workflowParameters: Record<string, unknown>) => ({
      type: 'simple-image-processing-v1',
      jobInput: { type: 'staging-batch-input-v1', batchId: 'imgs' },
      computeConfiguration: { type: 'compute-configuration-v2' },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: 'ws-a',
        workflowId: 'param',
        workflowParameters,
      },
    });
    // a parameter naming a registered model of the wrong task: refused before any task exists
    const wrong = await h.app.inject({
      method: 'POST',
      url: `${JOBS}/job-wrong?api_key=key-a`,
      payload: body({ model: 'cls/1' }),
    });
    expect(wrong.statusCode, wrong.body).toBe(400);
    expect(wrong.json().field).toBe('workflow.steps.det.model_id');
    expect((await h.app.inject({ method: 'GET', url: `${JOBS}/job-wrong?api_key=key-a` })).statusCode).toBe(
      404,
    );

    const ok = await h.app.inject({ method: 'POST', url: `${JOBS}/job-ok?api_key=key-a`, payload: body({}) });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('saves a workflow with an unknown field, with a warning in the answer and in the logs of its jobs', async () => {
    const def = workflow([step({ iou: 0.45 })]);
    const saved = await put('misspelt', def);
    expect(saved.statusCode, saved.body).toBe(200);
    const warning = {
      step: 'det',
      field: 'iou',
      message:
        '"iou" is not a field of roboflow_core/roboflow_object_detection_model@v2; did you mean "iou_threshold"?',
    };
    expect(saved.json()).toMatchObject({ workflowId: 'misspelt', status: 'created', warnings: [warning] });
    expect((await put('clean', workflow([step({})]))).json().warnings).toEqual([]);

    const job = {
      type: 'simple-image-processing-v1',
      jobInput: { type: 'staging-batch-input-v1', batchId: 'imgs' },
      computeConfiguration: { type: 'compute-configuration-v2' },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: 'ws-a',
        workflowId: 'misspelt',
      },
    };
    const created = await h.app.inject({
      method: 'POST',
      url: `${JOBS}/job-warn?api_key=key-a`,
      payload: job,
    });
    expect(created.statusCode, created.body).toBe(200);
    // an idempotent repeat of the request does not log the warning twice
    await h.app.inject({ method: 'POST', url: `${JOBS}/job-warn?api_key=key-a`, payload: job });
    const logs = (
      await h.app.inject({ method: 'GET', url: `${JOBS}/job-warn/logs?api_key=key-a&severity=warning` })
    ).json().logs;
    expect(logs).toEqual([
      expect.objectContaining({
        severity: 'warning',
        reportingModule: 'api',
        logType: 'workflow-warning',
        processingStageId: null,
        taskId: null,
        payload: warning,
      }),
    ]);
  });
});
