/**
 * Issue 12 (compatibility): clients that send an empty form body on body-less POSTs (`curl -X
 * POST -d ''`, Python's urllib: `application/x-www-form-urlencoded`, zero length) got 415. A
 * body-less POST accepts an empty body of any content type; a non-empty body of a type no route
 * reads is still a 415 in the project's format.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb } from '../support/helpers.ts';
import {
  createTestJob,
  expectVbError,
  type ListeningApi,
  send,
  startListeningApi,
} from './security-support.ts';

const DS = '/data-staging/v1/external/ws-a';
const BP = '/batch-processing/v1/external/ws-a';
const EMPTY_BODIES: Array<Record<string, string | number>> = [
  { 'content-type': 'application/x-www-form-urlencoded', 'content-length': 0 },
  { 'content-type': 'text/plain', 'content-length': 0 },
  { 'content-type': 'application/json', 'content-length': 0 },
  { 'content-type': 'application/octet-stream', 'content-length': 0 },
  { 'content-length': 0 },
  { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' },
];

describe('body-less POSTs accept an empty body of any content type', () => {
  let api: ListeningApi;
  beforeAll(async () => {
    await flushRedisTestDb();
    api = await startListeningApi('fs');
    const now = api.clock.now();
    await createTestJob(api, 'running-job', now);
    await createTestJob(api, 'failed-job', now, 'failed');
  });
  afterAll(() => api?.close());

  it.each([
    ['upload URL for a video', `${DS}/batches/vids/upload/video?fileName=a.mp4`],
    ['upload URL for a tar shard', `${DS}/batches/shards/bulk-upload/image-files`],
    ['abort', `${BP}/jobs/running-job/abort`],
    ['restart', `${BP}/jobs/failed-job/restart`],
  ])('%s', async (_what, path) => {
    for (const headers of EMPTY_BODIES) {
      const res = await send(api, {
        method: 'POST',
        path: `${path}${path.includes('?') ? '&' : '?'}api_key=key-a`,
        headers,
      });
      expect(res.status, `${JSON.stringify(headers)}: ${res.text}`).toBe(200);
    }
  });

  it('a non-empty body of a type no route reads is a 415 in the project format', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'application/xml']) {
      const res = await send(api, {
        method: 'POST',
        path: `${DS}/batches/vids/upload/video?fileName=a.mp4&api_key=key-a`,
        headers: { 'content-type': type },
        body: 'a=1',
      });
      expectVbError(res, 415, { code: 'VB_ERR_UNSUPPORTED_MEDIA' });
    }
  });
});
