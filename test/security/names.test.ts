/**
 * Finding 4 of the hostile-input probe: names that passed the api's checks but that the object
 * store refuses (reserved `.vb-` prefixes, 201–255-byte names, dot segments, percent-encoded dots)
 * were 500s, and a video name was even issued an upload URL whose PUT then failed. The api's rules
 * now derive from the store's, so each is a 400 naming the field, and the longest name the store
 * takes (200 bytes) goes all the way through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb } from '../support/helpers.ts';
import {
  expectHealthy,
  expectNothingLeft,
  expectVbError,
  goodModel,
  jpeg,
  type ListeningApi,
  multipart,
  type StoreKind,
  send,
  startListeningApi,
} from './security-support.ts';

const DS = '/data-staging/v1/external/ws-a';
const BP = '/batch-processing/v1/external/ws-a';
const MD = '/models/v1/external/ws-a/models';
const WF = '/workflows/v1/external/ws-a/workflows';

/** Names the store refuses as one key segment. */
const UNSTORABLE = [
  '.vb-meta.x.jpg',
  '.vb-tmp.x.jpg',
  `${'a'.repeat(197)}.jpg`, // 201 bytes
  `${'a'.repeat(251)}.jpg`, // 255 bytes
  `${'é'.repeat(99)}.jpg`, // 202 bytes in 103 characters
  `${'日'.repeat(84)}.jpg`, // 256 bytes
];
/** The longest name both stores take: 200 bytes. */
const LONGEST = `${'é'.repeat(98)}.jpg`;

describe.each<StoreKind>(['fs', 's3'])(
  'names the store refuses are refused at the edge (%s store)',
  (kind) => {
    let api: ListeningApi;
    beforeAll(async () => {
      await flushRedisTestDb();
      api = await startListeningApi(kind);
    });
    afterAll(() => api?.close());

    it('image uploads: a bad fileName (query or part filename) is a 400, the 200-byte name is stored', async () => {
      expect(Buffer.byteLength(LONGEST)).toBe(200);
      for (const name of UNSTORABLE) {
        const byQuery = multipart([{ name: 'x.jpg', filename: 'x.jpg', data: jpeg() }]);
        const res = await send(api, {
          method: 'POST',
          path: `${DS}/batches/names/upload/image?api_key=key-a&fileName=${encodeURIComponent(name)}`,
          headers: { 'content-type': byQuery.contentType },
          body: byQuery.body,
        });
        expectVbError(res, 400, { field: 'fileName' });
        const byPart = multipart([{ name: 'x', filename: name, data: jpeg() }]);
        const res2 = await send(api, {
          method: 'POST',
          path: `${DS}/batches/names/upload/image?api_key=key-a`,
          headers: { 'content-type': byPart.contentType },
          body: byPart.body,
        });
        expectVbError(res2, 400, { field: 'fileName' });
      }
      await expectNothingLeft(api, 'ws/ws-a/batches/');
      const ok = multipart([{ name: 'x', filename: LONGEST, data: jpeg() }]);
      const res = await send(api, {
        method: 'POST',
        path: `${DS}/batches/names/upload/image?api_key=key-a`,
        headers: { 'content-type': ok.contentType },
        body: ok.body,
      });
      expect(res.status, res.text).toBe(200);
      const list = await send(api, { method: 'GET', path: `${DS}/batches/names/list?api_key=key-a` });
      expect(list.json().filesMetadata.map((f: { fileName: string }) => f.fileName)).toEqual([LONGEST]);
    });

    it('video upload URLs: a bad fileName gets no URL (400); the 200-byte name is issued one whose PUT lands', async () => {
      for (const name of UNSTORABLE.map((n) => n.replace(/\.jpg$/, '.mp4'))) {
        const res = await send(api, {
          method: 'POST',
          path: `${DS}/batches/vids/upload/video?api_key=key-a&fileName=${encodeURIComponent(name)}`,
        });
        expectVbError(res, 400, { field: 'fileName' });
      }
      const name = LONGEST.replace(/\.jpg$/, '.mp4');
      const res = await send(api, {
        method: 'POST',
        path: `${DS}/batches/vids/upload/video?api_key=key-a&fileName=${encodeURIComponent(name)}`,
      });
      expect(res.status, res.text).toBe(200);
      const url = new URL(res.json().signedURLDetails.uploadURL);
      const put = await send(api, {
        method: 'PUT',
        path: url.pathname + url.search,
        body: Buffer.alloc(100, 1),
      });
      expect(put.status, put.text).toBe(200);
    });

    it('model ids with dot segments, percent-encoded dots or reserved names are 400 on every model route', async () => {
      const m = goodModel();
      const form = multipart([
        { name: 'config', data: JSON.stringify(m.config) },
        { name: 'weights', filename: 'm.onnx', data: m.weights },
      ]);
      const ids = [
        '.',
        '..',
        '%2e',
        '%2e%2e',
        '.vb-tmp.x/1',
        '.vb-meta.y',
        'a/..',
        'a/%2E',
        `${'a'.repeat(100)}/${'b'.repeat(100)}`,
      ];
      for (const id of ids) {
        for (const method of ['PUT', 'GET', 'DELETE']) {
          const res = await send(api, {
            method,
            path: `${MD}/${id}?api_key=key-a`,
            ...(method === 'PUT' ? { headers: { 'content-type': form.contentType }, body: form.body } : {}),
          });
          expectVbError(res, 400, { field: 'modelId' });
        }
      }
      await expectNothingLeft(api, 'ws/ws-a/models/');
      await expectHealthy(api);
    });

    it('batch ids, job ids, workflow ids and part names outside their rules are 400s naming the field', async () => {
      const probes: Array<[string, string, string]> = [
        ['GET', `${DS}/batches/..`, 'batch_id'],
        ['GET', `${DS}/batches/${'b'.repeat(65)}`, 'batch_id'],
        ['GET', `${DS}/batches/UPPER/count`, 'batch_id'],
        ['GET', `${BP}/jobs/${'j'.repeat(21)}`, 'job_id'],
        ['GET', `${BP}/jobs/..`, 'job_id'],
        ['GET', `${WF}/.vb-tmp.1`, 'workflowId'],
        ['DELETE', `${WF}/..`, 'workflowId'],
        ['GET', `${WF}/${'w'.repeat(129)}`, 'workflowId'],
      ];
      for (const [method, path, field] of probes) {
        const res = await send(api, { method, path: `${path}?api_key=key-a` });
        expectVbError(res, 400, { field });
      }
      const up = multipart([{ name: 'a.jpg', filename: 'a.jpg', data: jpeg() }]);
      await send(api, {
        method: 'POST',
        path: `${DS}/batches/parts/upload/image?api_key=key-a`,
        headers: { 'content-type': up.contentType },
        body: up.body,
      });
      for (const part of ['..', '.vb-tmp.1', 'a/b', 'p'.repeat(129)]) {
        for (const route of ['count', 'list']) {
          const res = await send(api, {
            method: 'GET',
            path: `${DS}/batches/parts/${route}?api_key=key-a&partName=${encodeURIComponent(part)}`,
          });
          expectVbError(res, 400, { field: 'partName' });
        }
      }
    });
  },
);
