import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/basics.ts';
import { ApiClient, ApiError, ConnectionError } from './api-client.ts';
import { type FakeApi, startFakeApi } from './fake-api.test-support.ts';

describe('ApiClient', () => {
  let api: FakeApi;
  beforeEach(async () => {
    api = await startFakeApi('acme');
  });
  afterEach(() => api.close());

  const client = (baseUrl = api.url) => new ApiClient({ baseUrl, apiKey: 'k 1', retryDelayMs: 10 });

  it('sends api_key as a query parameter only and discovers the workspace', async () => {
    expect(await client().workspace()).toBe('acme');
    const r = api.requests[0];
    expect(r.path).toBe('/');
    expect(r.query.get('api_key')).toBe('k 1');
    expect(r.headers.authorization).toBeUndefined();
  });

  it('builds paths by concatenation under a base URL with a trailing slash trimmed', () => {
    expect(
      new ApiClient({ baseUrl: 'http://h:1/rf/', apiKey: 'x' }).url('/a/b', { p: 1, q: undefined }),
    ).toBe('http://h:1/rf/a/b?api_key=x&p=1');
  });

  it('retries 503 and succeeds on the third attempt', async () => {
    let n = 0;
    api.on('GET', '/x', () => (++n < 3 ? { status: 503, json: { error: 'busy' } } : { json: { ok: true } }));
    expect(await client().get('/x')).toEqual({ ok: true });
    expect(n).toBe(3);
  });

  it('gives up after 3 attempts on 429 and reports the server error', async () => {
    let n = 0;
    api.on('GET', '/x', () => {
      n++;
      return { status: 429, json: { error: 'slow down' } };
    });
    await expect(client().get('/x')).rejects.toThrow(/HTTP 429 to GET \/x: slow down/);
    expect(n).toBe(3);
  });

  it('does not retry 500 or 404 and keeps the JSON error message', async () => {
    let n = 0;
    api.on('POST', '/x', () => {
      n++;
      return { status: 500, json: { error: 'internal error', code: 'VB_ERR_INTERNAL' } };
    });
    const err = (await client()
      .post('/x', { json: { a: 1 } })
      .catch((e) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(500);
    expect(err.message).toContain('internal error');
    expect(n).toBe(1);
  });

  it('explains 401', async () => {
    api.on('GET', '/x', () => ({ status: 401, json: { error: 'missing or unknown api_key' } }));
    await expect(client().get('/x')).rejects.toThrow(/check your API key: missing or unknown api_key/);
  });

  it('does not retry when retry is off', async () => {
    let n = 0;
    api.on('GET', '/x', () => {
      n++;
      return { status: 503, json: { error: 'busy' } };
    });
    await expect(client().get('/x', {}, { retry: false })).rejects.toThrow(/busy/);
    expect(n).toBe(1);
  });

  it('retries connection errors, then fails with a ConnectionError', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = (await client(`http://127.0.0.1:${port}`)
      .get('/x')
      .catch((e) => e)) as ConnectionError;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(20);
  });

  it('sends JSON bodies with a content type', async () => {
    api.on('PUT', '/j', (r) => ({
      json: { got: JSON.parse(r.body.toString()), ct: r.headers['content-type'] },
    }));
    expect(await client().put('/j', { json: { a: [1] } })).toEqual({
      got: { a: [1] },
      ct: 'application/json',
    });
  });
});
