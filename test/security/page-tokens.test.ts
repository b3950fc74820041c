/**
 * Findings 2 and 6 of the hostile-input probe: page tokens. A negative log offset made the logs
 * handler loop forever; tokens past Redis' 64-bit range were 500s ("not an integer"). Every list
 * route must answer a malformed token with a 400 naming `nextPageToken`, promptly, and keep
 * paging correctly with the tokens it mints.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb } from '../support/helpers.ts';
import { finishTaskAsLeader } from '../support/job-fixtures.ts';
import {
  createTestJob,
  expectHealthy,
  expectVbError,
  jpeg,
  type ListeningApi,
  multipart,
  send,
  startListeningApi,
} from './security-support.ts';

const DS = '/data-staging/v1/external/ws-a';
const BP = '/batch-processing/v1/external/ws-a';
/** Tokens from the probe, and other shapes no list ever mints. */
const BAD_OFFSETS = [
  '-1000',
  '-50',
  '-1',
  '99999999999999999999',
  '9223372036854775808',
  '-99999999999999999999',
  '1.5',
  '1e3',
  'abc',
  ' 1',
  '0x10',
];

describe('page tokens: malformed tokens are 400s, every list terminates', () => {
  let api: ListeningApi;
  beforeAll(async () => {
    await flushRedisTestDb();
    api = await startListeningApi('fs');
    const form = multipart([{ name: 'a.jpg', filename: 'a.jpg', data: jpeg() }]);
    for (const batch of ['imgs-1', 'imgs-2', 'imgs-3']) {
      const up = await send(api, {
        method: 'POST',
        path: `${DS}/batches/${batch}/upload/image?api_key=key-a`,
        headers: { 'content-type': form.contentType },
        body: form.body,
      });
      expect(up.status, up.text).toBe(200);
    }
    const shard = await send(api, {
      method: 'POST',
      path: `${DS}/batches/sharded/bulk-upload/image-files?api_key=key-a`,
    });
    expect(shard.status, shard.text).toBe(200);
    const now = api.clock.now();
    await createTestJob(api, 'job-1', now);
    await createTestJob(api, 'job-2', now + 1);
    for (let i = 0; i < 3; i++)
      await api.deps.jobs.log('ws-a', 'job-1', {
        processingStageId: null,
        taskId: null,
        severity: 'info',
        reportingModule: 'test',
        logType: 'entry',
        payload: { i },
      });
    for (const t of ['t-000001', 't-000002'])
      await finishTaskAsLeader(api.deps.jobs, { workspace: 'ws-a', jobId: 'job-1', epoch: 0 }, t, {
        ok: 1,
        failed: 0,
      });
  });
  afterAll(() => api?.close());

  const offsetRoutes = [
    `${DS}/batches`,
    `${DS}/batches/sharded/shards`,
    `${BP}/jobs`,
    `${BP}/jobs/job-1/logs`,
  ];

  it.each(offsetRoutes)(
    '%s: every malformed offset token is a prompt 400 naming nextPageToken',
    async (route) => {
      for (const token of BAD_OFFSETS) {
        for (const extra of ['', '&pageSize=1']) {
          const res = await send(api, {
            method: 'GET',
            path: `${route}?api_key=key-a&nextPageToken=${encodeURIComponent(token)}${extra}`,
            timeoutMs: 5000,
          });
          expectVbError(res, 400, { field: 'nextPageToken' });
        }
      }
      await expectHealthy(api);
    },
  );

  it('the tokens the lists mint page through every item and end with null', async () => {
    const pageThrough = async (route: string, itemsField: string) => {
      const seen: unknown[] = [];
      let token: string | null = null;
      for (let pages = 0; pages < 10; pages++) {
        const q: string = token === null ? '' : `&nextPageToken=${encodeURIComponent(token)}`;
        const res = await send(api, { method: 'GET', path: `${route}?api_key=key-a&pageSize=1${q}` });
        expect(res.status, res.text).toBe(200);
        seen.push(...res.json()[itemsField]);
        token = res.json().nextPageToken;
        if (token === null) return seen;
      }
      throw new Error(`${route} did not end`);
    };
    expect(await pageThrough(`${DS}/batches`, 'batches')).toHaveLength(4);
    expect(await pageThrough(`${BP}/jobs`, 'jobs')).toHaveLength(2);
    expect(await pageThrough(`${BP}/jobs/job-1/logs`, 'logs')).toHaveLength(3);
    expect(await pageThrough(`${DS}/batches/sharded/shards`, 'shards')).toHaveLength(1);
    expect(await pageThrough(`${BP}/jobs/job-1/stages/processing/tasks`, 'tasks')).toHaveLength(2);
    expect(await pageThrough(`${DS}/batches/imgs-1/list`, 'filesMetadata')).toHaveLength(1);
  });

  it('name-keyed lists (batch content, tasks) refuse tokens that are no name and end on any name', async () => {
    for (const route of [`${DS}/batches/imgs-1/list`, `${BP}/jobs/job-1/stages/processing/tasks`]) {
      for (const token of ['../x', '.vb-tmp.1', 'a/b', 'x'.repeat(300)]) {
        const res = await send(api, {
          method: 'GET',
          path: `${route}?api_key=key-a&nextPageToken=${encodeURIComponent(token)}`,
          timeoutMs: 5000,
        });
        expectVbError(res, 400, { field: 'nextPageToken' });
      }
      for (const token of ['-1000', '99999999999999999999', 'zzz']) {
        const res = await send(api, {
          method: 'GET',
          path: `${route}?api_key=key-a&nextPageToken=${encodeURIComponent(token)}`,
          timeoutMs: 5000,
        });
        expect(res.status, res.text).toBe(200);
      }
    }
  });

  it('the repositories refuse a bad offset themselves instead of looping or reaching Redis', async () => {
    const settled = (p: Promise<unknown>) =>
      Promise.race([
        p.then(
          () => 'resolved',
          (e: Error) => e.message,
        ),
        new Promise((r) => setTimeout(() => r('hung'), 5000)),
      ]);
    expect(await settled(api.deps.jobs.logs('ws-a', 'job-1', null, '-1000', 10))).toMatch(/nextPageToken/);
    expect(await settled(api.deps.jobs.list('ws-a', '9223372036854775808', 10))).toMatch(/nextPageToken/);
    expect(await settled(api.deps.batches.list('ws-a', '-5', 10))).toMatch(/nextPageToken/);
    expect(await settled(api.deps.batches.listShards('ws-a', 'sharded', '1e30', 10, 1000))).toMatch(
      /nextPageToken/,
    );
  });
});
