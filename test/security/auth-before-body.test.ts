/**
 * Finding 9 of the hostile-input probe: the API key was checked after the body was parsed, so
 * malformed JSON without a key got 400 (not 401), another workspace's key got 400 (not 403), and
 * an unauthenticated caller could make the api read and parse up to 64 MiB of JSON on the
 * reference-ingest routes. The key (and the workspace of the path) is now checked when the
 * request arrives, before a byte of its body is read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb } from '../support/helpers.ts';
import {
  expectHealthy,
  expectVbError,
  type ListeningApi,
  rawExchange,
  send,
  startListeningApi,
  tempFilesIn,
} from './security-support.ts';

const JSON_ROUTES: Array<[string, string]> = [
  ['POST', '/batch-processing/v1/external/ws-a/jobs/j1'],
  ['PUT', '/workflows/v1/external/ws-a/workflows/wf'],
  ['POST', '/data-staging/v1/external/ws-a/batches/b1/bulk-upload/image-references'],
  ['POST', '/data-staging/v1/external/ws-a/batches/b1/bulk-upload/video-references'],
  ['POST', '/batch-processing/v1/external/ws-a/jobs/j1/restart'],
];

describe('the API key is checked before the body is read', () => {
  let api: ListeningApi;
  beforeAll(async () => {
    await flushRedisTestDb();
    api = await startListeningApi('fs');
  });
  afterAll(() => api?.close());

  it.each(JSON_ROUTES)(
    '%s %s: malformed JSON without a key is 401, with another workspace key 403',
    async (method, path) => {
      const body = '{"not json';
      const headers = { 'content-type': 'application/json' };
      expectVbError(await send(api, { method, path, headers, body }), 401, { code: 'VB_ERR_UNAUTHORIZED' });
      expectVbError(await send(api, { method, path: `${path}?api_key=nope`, headers, body }), 401);
      expectVbError(await send(api, { method, path: `${path}?api_key=key-b`, headers, body }), 403, {
        code: 'VB_ERR_FORBIDDEN_WORKSPACE',
      });
      // With the right key the body is read, and found malformed.
      expectVbError(await send(api, { method, path: `${path}?api_key=key-a`, headers, body }), 400, {
        field: 'body',
      });
    },
  );

  it('an unauthenticated 64 MiB reference ingest is refused before its body is sent', async () => {
    const declared = 64 * 1024 * 1024;
    const res = await rawExchange(
      api,
      'POST /data-staging/v1/external/ws-a/batches/b1/bulk-upload/image-references HTTP/1.1\r\n' +
        `Host: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n{"imageReferences":[`,
      5000,
    );
    expect(res.status, res.head).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'VB_ERR_UNAUTHORIZED' });
  });

  it('an unauthenticated multipart upload is refused before a file is written', async () => {
    const res = await rawExchange(
      api,
      'PUT /models/v1/external/ws-a/models/m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n' +
        'Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n\r\n' +
        '--b\r\nContent-Disposition: form-data; name="weights"; filename="w.onnx"\r\n\r\nxxxx',
      5000,
    );
    expect(res.status, res.head).toBe(401);
    expect(await tempFilesIn(api.storeDir as string)).toEqual([]);
    await expectHealthy(api);
  });
});
