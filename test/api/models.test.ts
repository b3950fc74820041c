import { buildModel, buildShapesDet, modelConfig } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import { type AppHarness, startApiHarness } from './app-harness.ts';

const MD = '/models/v1/external/ws-a/models';

/** The upload form; `config` undefined leaves the field out. */
function modelForm(
  config: unknown,
  weights: Uint8Array,
): { payload: Buffer; headers: Record<string, string> } {
  const b = `----vbm${Math.random().toString(16).slice(2)}`;
  const payload = Buffer.concat([
    Buffer.from(
      config === undefined
        ? ''
        : `--${b}\r\nContent-Disposition: form-data; name="config"\r\n\r\n${JSON.stringify(config)}\r\n`,
    ),
    Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="weights"; filename="m.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    Buffer.from(weights),
    Buffer.from(`\r\n--${b}--\r\n`),
  ]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${b}` } };
}

describe('model registry: upload validates the model against its declared task', () => {
  let h: AppHarness;
  const det = buildShapesDet();
  const cfg = modelConfig('shapes-det');
  beforeAll(async () => {
    const dir = await useTempDir();
    await flushRedisTestDb();
    h = await startApiHarness({ redisUrl: redisTestUrl(), store: { driver: 'fs', dir } });
  });
  afterAll(() => h?.close());

  it('accepts a model that fits its config, and gets, lists and deletes it', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: `${MD}/shapes/1?api_key=key-a`,
      ...modelForm(cfg, det),
    });
    expect(res.statusCode, res.body).toBe(200);
    const m = res.json().model;
    expect(m).toMatchObject({
      modelId: 'shapes/1',
      task: 'object-detection',
      classNames: ['red', 'green', 'blue'],
      weightsBytes: det.length,
    });
    expect(await h.store.exists(m.weightsKey)).toBe(true);
    expect(
      (await h.app.inject({ method: 'GET', url: `${MD}/shapes/1?api_key=key-a` })).json().model.modelId,
    ).toBe('shapes/1');
    expect((await h.app.inject({ method: 'GET', url: `${MD}?api_key=key-a` })).json().models).toEqual([
      'shapes/1',
    ]);
    expect((await h.app.inject({ method: 'DELETE', url: `${MD}/shapes/1?api_key=key-a` })).statusCode).toBe(
      200,
    );
    expect(await h.store.exists(m.weightsKey)).toBe(false);
    expect((await h.app.inject({ method: 'GET', url: `${MD}/shapes/1?api_key=key-a` })).statusCode).toBe(404);
  });

  it('refuses a model whose output does not match the declared classes, keeping the previous upload', async () => {
    const ok = await h.app.inject({
      method: 'PUT',
      url: `${MD}/keep/1?api_key=key-a`,
      ...modelForm(cfg, det),
    });
    const before = ok.json().model;
    const res = await h.app.inject({
      method: 'PUT',
      url: `${MD}/keep/1?api_key=key-a`,
      ...modelForm({ ...cfg, classNames: ['a', 'b', 'c', 'd', 'e'] }, det),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VB_ERR_VALIDATION', field: 'weights' });
    expect(res.json().error).toMatch(/class/);
    const after = (await h.app.inject({ method: 'GET', url: `${MD}/keep/1?api_key=key-a` })).json().model;
    expect(after.weightsKey).toBe(before.weightsKey);
    expect(await h.store.exists(after.weightsKey)).toBe(true);
  });

  it('refuses a classifier config on a detector, bytes that are not ONNX, and bad config fields', async () => {
    const cls = await h.app.inject({
      method: 'PUT',
      url: `${MD}/x/1?api_key=key-a`,
      ...modelForm({ ...cfg, task: 'classification' }, det),
    });
    expect(cls.statusCode).toBe(400);
    const junk = await h.app.inject({
      method: 'PUT',
      url: `${MD}/x/1?api_key=key-a`,
      ...modelForm(cfg, Buffer.from('not onnx at all')),
    });
    expect(junk.statusCode).toBe(400);
    expect(junk.json().error).toMatch(/ONNX/);
    const bad = await h.app.inject({
      method: 'PUT',
      url: `${MD}/x/1?api_key=key-a`,
      ...modelForm({ ...cfg, resizeMode: 'squash' }, det),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('config.resizeMode');
    expect((await h.store.list('ws/ws-a/models/x%2F1/')).items).toEqual([]);
  });
});

describe('model registry: the config is optional and accepts both spellings', () => {
  let h: AppHarness;
  const ultralytics = buildModel('shapes-det', { ultralytics: true });
  const put = (id: string, config: unknown, weights: Uint8Array) =>
    h.app.inject({ method: 'PUT', url: `${MD}/${id}?api_key=key-a`, ...modelForm(config, weights) });
  beforeAll(async () => {
    const dir = await useTempDir();
    await flushRedisTestDb();
    h = await startApiHarness({ redisUrl: redisTestUrl(), store: { driver: 'fs', dir } });
  });
  afterAll(() => h?.close());

  it('registers an Ultralytics export without a config, from its metadata and graph', async () => {
    const res = await put('ultra/1', undefined, ultralytics);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().model).toMatchObject({
      task: 'object-detection',
      architecture: 'yolov8',
      classNames: ['red', 'green', 'blue'],
      input: { width: 640, height: 640 },
      resizeMode: 'letterbox',
      paddingValue: 114,
      postProcessing: 'nms',
      defaults: { confidence: 0.4, iouThreshold: 0.3, maxDetections: 300, classAgnosticNms: false },
      author: 'Ultralytics',
    });
    expect(res.json().configSources).toEqual({
      task: 'metadata',
      classNames: 'metadata',
      input: 'graph',
      architecture: 'metadata',
      resizeMode: 'metadata',
      paddingValue: 'metadata',
      postProcessing: 'graph',
    });
  });

  it('lets a partial config in snake_case override the metadata', async () => {
    const res = await put(
      'ultra/2',
      {
        class_names: ['r', 'g', 'b'],
        resize_mode: 'stretch',
        padding_value: 0,
        defaults: { confidence: 0.25, iou_threshold: 0.45, max_detections: 100, class_agnostic_nms: true },
      },
      ultralytics,
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().model).toMatchObject({
      task: 'object-detection',
      classNames: ['r', 'g', 'b'],
      resizeMode: 'stretch',
      paddingValue: 0,
      defaults: { confidence: 0.25, iouThreshold: 0.45, maxDetections: 100, classAgnosticNms: true },
    });
    expect(res.json().configSources).toMatchObject({
      classNames: 'config',
      resizeMode: 'config',
      task: 'metadata',
    });
  });

  it('refuses unknown keys, naming them with the accepted ones, and stores nothing', async () => {
    const res = await put('ultra/3', { resize_mod: 'stretch', confidence: 0.25 }, ultralytics);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VB_ERR_VALIDATION', field: 'config' });
    expect(res.json().error).toContain(
      'unknown keys "resize_mod" (did you mean "resize_mode"?), "confidence"',
    );
    expect(res.json().error).toContain(
      'accepted: task, architecture, classNames (class_names), input, resizeMode (resize_mode)',
    );
    const nested = await put('ultra/3', { defaults: { iou: 0.5 } }, ultralytics);
    expect(nested.statusCode).toBe(400);
    expect(nested.json().field).toBe('config.defaults');
    expect(nested.json().error).toContain('"iou" (did you mean "iouThreshold"?)');
    const twice = await put('ultra/3', { classNames: ['a'], class_names: ['a'] }, ultralytics);
    expect(twice.statusCode).toBe(400);
    expect(twice.json().error).toContain('give only one of "classNames" and "class_names"');
    expect((await h.store.list('ws/ws-a/models/ultra%2F3/')).items).toEqual([]);
  });

  it('says what is missing when the file has no metadata and there is no config', async () => {
    const res = await put('bare/1', undefined, buildShapesDet());
    expect(res.statusCode).toBe(400);
    expect(res.json().field).toBe('config.classNames');
    expect(res.json().error).toContain('no Ultralytics "names" metadata');
    expect(res.json().error).toContain('its output [N, 7, 8400] has 3 classes');
    expect(res.json().error).toContain('give "class_names" in the config');
    const ok = await put('bare/1', { class_names: ['red', 'green', 'blue'] }, buildShapesDet());
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().configSources).toMatchObject({ task: 'graph', input: 'graph', classNames: 'config' });
  });
});
