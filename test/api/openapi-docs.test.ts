/**
 * The route table is the api: every registered route has its entry (and the same auth), every
 * entry is registered; `/openapi.json`, `/docs` and `/console` are served from this process with
 * caching headers and a CSP, and need no key.
 */
import { ROUTES } from '@visionbatch/shared/wire/routes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import { type AppHarness, startApiHarness } from './app-harness.ts';

describe('route table, /openapi.json, /docs and /console', () => {
  let h: AppHarness;
  beforeAll(async () => {
    await flushRedisTestDb();
    h = await startApiHarness({ redisUrl: redisTestUrl(), store: { driver: 'fs', dir: await useTempDir() } });
  });
  afterAll(() => h?.close());

  it('the table and the registered routes are the same, with the same auth', () => {
    // fastify adds a HEAD to every GET; only the signed download's is part of the API.
    const registered = h.app.vbRoutes.filter((r) => r.method !== 'HEAD' || r.url.startsWith('/signed/'));
    const key = (m: string, u: string) => `${m} ${u}`;
    const table = new Map(ROUTES.map((r) => [key(r.method, r.path), r]));
    const unlisted = registered
      .filter((r) => !table.has(key(r.method, r.url)))
      .map((r) => key(r.method, r.url));
    expect(unlisted, 'registered routes missing from the table').toEqual([]);
    const regKeys = new Set(registered.map((r) => key(r.method, r.url)));
    const unregistered = ROUTES.map((r) => key(r.method, r.path)).filter((k) => !regKeys.has(k));
    expect(unregistered, 'table entries no route implements').toEqual([]);
    for (const r of registered)
      expect(r.public, key(r.method, r.url)).toBe(table.get(key(r.method, r.url))?.auth !== 'api-key');
  });

  it('serves /openapi.json without a key, naming the public URL', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.1');
    expect(doc.servers[0].url).toBe('http://vb.test');
    expect(Object.keys(doc.paths)).toContain('/batch-processing/v1/external/{workspace}/jobs/{jobId}/events');
    expect(Object.keys(doc.paths)).toContain('/visionbatch/v1/{workspace}/machines');
    expect(Object.keys(doc.paths)).not.toContain('/console');
  });

  it('serves /docs from node_modules, with a CSP, long-lived versioned assets and revalidation', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['cache-control']).toBe('no-cache');
    const scripts = [...page.body.matchAll(/src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBe(2);
    for (const src of scripts) expect(src).toMatch(/^\/docs\/assets\//);
    const bundle = await h.app.inject({ method: 'GET', url: scripts[0] });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers['cache-control']).toContain('immutable');
    expect(bundle.body.length).toBeGreaterThan(100_000);
    const again = await h.app.inject({
      method: 'GET',
      url: '/docs',
      headers: { 'if-none-match': String(page.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    expect((await h.app.inject({ method: 'GET', url: '/docs/assets/0.0.0/swagger-ui.css' })).statusCode).toBe(
      404,
    );
  });

  it('serves the console: a page with hashed, immutable assets, no key needed', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/console' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    const script = /src="(\/console\/assets\/main-[A-Z0-9]+\.js)"/.exec(page.body)?.[1];
    const style = /href="(\/console\/assets\/main-[A-Z0-9]+\.css)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    const js = await h.app.inject({ method: 'GET', url: script as string });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toContain('text/javascript');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await h.app.inject({ method: 'GET', url: '/console/assets/nope.js' })).statusCode).toBe(404);
  });

  it('behind a mount prefix, the pages point at the prefixed api and assets', async () => {
    const p = await startApiHarness({
      redisUrl: redisTestUrl(),
      store: { driver: 'fs', dir: await useTempDir() },
      env: { VB_MOUNT_PREFIX: '/vb' },
    });
    try {
      const page = await p.app.inject({ method: 'GET', url: '/vb/console' });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('<meta name="vb-api-base" content="/vb">');
      expect(page.body).toMatch(/src="\/vb\/console\/assets\/main-[A-Z0-9]+\.js"/);
      const docs = await p.app.inject({ method: 'GET', url: '/vb/docs' });
      expect(docs.body).toContain('data-spec-url="/vb/openapi.json"');
      const doc = (await p.app.inject({ method: 'GET', url: '/vb/openapi.json' })).json();
      expect(doc.servers[0].url).toBe('http://vb.test/vb');
    } finally {
      await p.close();
    }
  });
});
