/**
 * Findings 3, 7 and 12b of the hostile-input probe, and slow bodies: a model PUT whose body ended
 * inside the `weights` part never answered and left an open handle and a `.vb-tmp.*` file;
 * malformed multipart (truncated, no boundary, wrong boundary) was a 500; `config` sent as a file
 * part was a 413. Each probe must be a prompt 4xx in the project's format, leave nothing in the
 * store (fs: no temp file, no open handle; both: no stray key) and keep earlier data intact.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, waitFor } from '../support/helpers.ts';
import {
  expectHealthy,
  expectNothingLeft,
  expectVbError,
  goodModel,
  jpeg,
  keysUnder,
  type ListeningApi,
  multipart,
  openFilesIn,
  rawExchange,
  type StoreKind,
  send,
  startListeningApi,
  tempFilesIn,
} from './security-support.ts';

const MD = '/models/v1/external/ws-a/models';
const DS = '/data-staging/v1/external/ws-a';
// Single-piece model ids: s3rver lists keys URL-decoded (it ignores `encoding-type=url`), so the
// `%2F` of a `project/version` id would not list back as stored there.
const KEPT = 'ws/ws-a/models/keep/';
const REQUEST_TIMEOUT_S = 3;

/** A request head for raw sockets. */
const head = (method: string, path: string, headers: Record<string, string | number>) =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

describe.each<StoreKind>(['fs', 's3'])('uploads with hostile bodies (%s store)', (kind) => {
  let api: ListeningApi;
  let keptKey: string;
  const model = goodModel();
  const modelForm = () =>
    multipart([
      { name: 'config', data: JSON.stringify(model.config) },
      { name: 'weights', filename: 'm.onnx', contentType: 'application/octet-stream', data: model.weights },
    ]);
  /** The form cut off in the middle of the weights part (no closing boundary), sent whole. */
  const truncatedModelForm = () => {
    const f = modelForm();
    const cut = f.body.indexOf(model.weights) + Math.floor(model.weights.length / 2);
    return { ...f, body: f.body.subarray(0, cut) };
  };

  beforeAll(async () => {
    await flushRedisTestDb();
    api = await startListeningApi(kind, { VB_API_REQUEST_TIMEOUT_S: String(REQUEST_TIMEOUT_S) });
    const f = modelForm();
    const res = await send(api, {
      method: 'PUT',
      path: `${MD}/keep?api_key=key-a`,
      headers: { 'content-type': f.contentType },
      body: f.body,
    });
    expect(res.status, res.text).toBe(200);
    keptKey = res.json().model.weightsKey;
  });
  afterAll(() => api?.close());

  /** The model registered first is untouched and the store holds only its weights. */
  async function expectModelKept(): Promise<void> {
    const res = await send(api, { method: 'GET', path: `${MD}/keep?api_key=key-a` });
    expect(res.json().model.weightsKey).toBe(keptKey);
    await expectNothingLeft(api, KEPT, [keptKey]);
    await expectHealthy(api);
  }

  it('a model PUT whose body ends inside the weights part is a prompt 400, leaving nothing behind', async () => {
    const f = truncatedModelForm();
    const res = await send(api, {
      method: 'PUT',
      path: `${MD}/keep?api_key=key-a`,
      headers: { 'content-type': f.contentType },
      body: f.body,
      timeoutMs: 5000,
    });
    expectVbError(res, 400, { field: 'body' });
    await expectModelKept();
  });

  it.each([
    ['no boundary', 'multipart/form-data'],
    ['the wrong boundary', 'multipart/form-data; boundary=not-the-one-used'],
  ])('a model PUT with %s is a 400, leaving nothing behind', async (_what, contentType) => {
    const res = await send(api, {
      method: 'PUT',
      path: `${MD}/keep?api_key=key-a`,
      headers: { 'content-type': contentType },
      body: modelForm().body,
      timeoutMs: 5000,
    });
    expect(res.status, res.text).toBe(400);
    expectVbError(res, 400);
    await expectModelKept();
  });

  it('an image upload that is truncated, has no boundary or the wrong boundary is a 400, storing nothing', async () => {
    const f = multipart([{ name: 'a.jpg', filename: 'a.jpg', data: jpeg(64 * 1024) }]);
    const probes = [
      { contentType: f.contentType, body: f.body.subarray(0, 40 * 1024) },
      { contentType: 'multipart/form-data', body: f.body },
      { contentType: 'multipart/form-data; boundary=nope', body: f.body },
    ];
    for (const p of probes) {
      const res = await send(api, {
        method: 'POST',
        path: `${DS}/batches/bad-form/upload/image?api_key=key-a`,
        headers: { 'content-type': p.contentType },
        body: p.body,
        timeoutMs: 5000,
      });
      expectVbError(res, 400);
    }
    await expectNothingLeft(api, 'ws/ws-a/batches/');
    await expectHealthy(api);
  });

  it('accepts `config` sent as a small file part (finding 12b); refuses one over 1 MiB and too many parts', async () => {
    const f = multipart([
      {
        name: 'config',
        filename: 'config.json',
        contentType: 'application/json',
        data: JSON.stringify(model.config),
      },
      { name: 'weights', filename: 'm.onnx', contentType: 'application/octet-stream', data: model.weights },
    ]);
    const ok = await send(api, {
      method: 'PUT',
      path: `${MD}/as-file?api_key=key-a`,
      headers: { 'content-type': f.contentType },
      body: f.body,
    });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json().model).toMatchObject({ modelId: 'as-file', classNames: ['red', 'green', 'blue'] });
    const big = multipart([
      { name: 'config', filename: 'config.json', data: Buffer.alloc(1024 * 1024 + 1, 0x20) },
      { name: 'weights', filename: 'm.onnx', data: model.weights },
    ]);
    const res = await send(api, {
      method: 'PUT',
      path: `${MD}/too-big?api_key=key-a`,
      headers: { 'content-type': big.contentType },
      body: big.body,
    });
    expectVbError(res, 413);
    expect(await keysUnder(api, 'ws/ws-a/models/too-big')).toEqual([]);
    const many = multipart([
      { name: 'config', data: JSON.stringify(model.config) },
      ...['a', 'b', 'c'].map((n) => ({ name: n, filename: `${n}.bin`, data: 'x' })),
      { name: 'weights', filename: 'm.onnx', data: model.weights },
    ]);
    const tooMany = await send(api, {
      method: 'PUT',
      path: `${MD}/too-many?api_key=key-a`,
      headers: { 'content-type': many.contentType },
      body: many.body,
    });
    expectVbError(tooMany, 400, { field: 'body' });
    expect(await keysUnder(api, 'ws/ws-a/models/too-many')).toEqual([]);
  });

  it('a body slower than the request timeout gets a 408 in the error format, and its upload is removed', async () => {
    const f = modelForm();
    const partial = f.body.subarray(0, f.body.indexOf(model.weights) + 1000);
    const res = await rawExchange(
      api,
      Buffer.concat([
        Buffer.from(
          head('PUT', `${MD}/keep?api_key=key-a`, {
            'Content-Type': f.contentType,
            'Content-Length': f.body.length,
          }),
        ),
        partial,
      ]),
      (REQUEST_TIMEOUT_S + 5) * 1000,
    );
    expect(res.status, res.head).toBe(408);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'VB_ERR_REQUEST_TIMEOUT' });
    await waitFor(async () => (api.storeDir ? (await tempFilesIn(api.storeDir)).length === 0 : true), {
      message: 'the timed-out upload removed',
    });
    await expectModelKept();
  });

  it.runIf(kind === 'fs')(
    'a client that goes away mid-weights leaves no temp file and no open handle',
    async () => {
      const dir = api.storeDir as string;
      const f = modelForm();
      const socket = net.connect(api.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(
        head('PUT', `${MD}/keep?api_key=key-a`, {
          'Content-Type': f.contentType,
          'Content-Length': f.body.length,
        }),
      );
      socket.write(f.body.subarray(0, f.body.indexOf(model.weights) + 1000));
      // The upload is under way: its temp file exists and is open.
      await waitFor(async () => (await tempFilesIn(dir)).length === 1, { message: 'the upload started' });
      socket.destroy();
      await waitFor(
        async () => (await tempFilesIn(dir)).length === 0 && (await openFilesIn(dir)).length === 0,
        {
          message: 'the aborted upload cleaned up',
        },
      );
      await expectModelKept();
    },
  );

  it.runIf(kind === 'fs')(
    'a signed video upload whose client goes away leaves no temp file, no handle and no file record',
    async () => {
      const dir = api.storeDir as string;
      const url = await send(api, {
        method: 'POST',
        path: `${DS}/batches/vid-abort/upload/video?api_key=key-a&fileName=v.mp4`,
      });
      const u = new URL(url.json().signedURLDetails.uploadURL);
      const socket = net.connect(api.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(head('PUT', u.pathname + u.search, { 'Content-Length': 1_000_000 }));
      socket.write(Buffer.alloc(64 * 1024, 1));
      await waitFor(async () => (await tempFilesIn(dir)).length === 1, { message: 'the upload started' });
      socket.destroy();
      await waitFor(
        async () => (await tempFilesIn(dir)).length === 0 && (await openFilesIn(dir)).length === 0,
        {
          message: 'the aborted upload cleaned up',
        },
      );
      const list = await send(api, { method: 'GET', path: `${DS}/batches/vid-abort/list?api_key=key-a` });
      expect(list.json().filesMetadata).toEqual([]);
      await expectHealthy(api);
    },
  );
});
