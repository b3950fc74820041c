import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import { type AppHarness, startApiHarness } from './app-harness.ts';

describe('api keys and workspace isolation on every route', () => {
  let h: AppHarness;
  beforeAll(async () => {
    const dir = await useTempDir();
    await flushRedisTestDb();
    h = await startApiHarness({ redisUrl: redisTestUrl(), store: { driver: 'fs', dir } });
  });
  afterAll(() => h?.close());

  const concrete = (url: string, ws: string) =>
    url
      .replace(':workspace', ws)
      .replace(':batchId', 'some-batch')
      .replace(':jobId', 'some-job')
      .replace(':stageId', 'processing')
      .replace(':workflowId', 'wf')
      .replace('*', 'proj/1')
      .replace(/:(\w+)/g, 'x');

  it('registers the Roboflow-compatible and registry routes', () => {
    const urls = h.app.vbRoutes.map((r) => `${r.method} ${r.url}`);
    expect(urls).toContain('GET /');
    expect(urls).toContain('POST /batch-processing/v1/external/:workspace/jobs/:jobId');
    expect(urls).toContain('GET /data-staging/v1/external/:workspace/batches/:batchId/list');
    expect(h.app.vbRoutes.length).toBeGreaterThan(25);
  });

  it('answers 401 without a key or with an unknown key on every non-public route', async () => {
    const routes = h.app.vbRoutes.filter((r) => !r.public && r.method !== 'HEAD');
    for (const r of routes) {
      for (const q of ['', '?api_key=', '?api_key=nope']) {
        const res = await h.app.inject({ method: r.method as 'GET', url: concrete(r.url, 'ws-a') + q });
        expect(res.statusCode, `${r.method} ${r.url}${q}`).toBe(401);
        expect(res.json().error).toBeTypeOf('string');
      }
    }
  });

  it("answers 403 for another workspace's path on every route that names one", async () => {
    const routes = h.app.vbRoutes.filter(
      (r) => !r.public && r.url.includes(':workspace') && r.method !== 'HEAD',
    );
    expect(routes.length).toBeGreaterThan(20);
    for (const r of routes) {
      const res = await h.app.inject({
        method: r.method as 'GET',
        url: `${concrete(r.url, 'ws-b')}?api_key=key-a`,
      });
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(403);
      expect(res.json().code).toBe('VB_ERR_FORBIDDEN_WORKSPACE');
    }
  });

  it("accepts a Bearer key too, and discovery names the key's workspace", async () => {
    const res = await h.app.inject({ method: 'GET', url: '/', headers: { authorization: 'Bearer key-b' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().workspace).toBe('ws-b');
  });

  it('collapses repeated slashes from a base URL ending in "/"', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '//data-staging/v1/external/ws-a/batches?api_key=key-a',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ batches: [], nextPageToken: null });
  });
});
