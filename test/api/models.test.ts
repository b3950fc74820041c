import { buildShapesDet, modelConfig } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import { type AppHarness, startApiHarness } from './app-harness.ts';

const MD = '/models/v1/external/ws-a/models';

function modelForm(
  config: unknown,
  weights: Uint8Array,
): { payload: Buffer; headers: Record<string, string> } {
  const b = `----vbm${Math.random().toString(16).slice(2)}`;
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
