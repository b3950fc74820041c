/**
 * Data Staging wire contract (spec/batch-api.md §1.3, §1.5, §2): exactly the requests Roboflow's
 * client sends, every response checked against the rules its pydantic models enforce.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageForm } from '../api/app-harness.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import {
  buildTar,
  jpeg,
  pathOf,
  type StagingHarness,
  startStagingHarness,
  uploadShard,
  waitShard,
} from './staging-support.ts';

// The client builds every URL as API_BASE_URL + "/data-staging/...": a base URL with a trailing
// slash gives `//data-staging/...`. All calls below go through that form.
const BASE = '/';
const DS = `${BASE}/data-staging/v1/external/ws-a`;
const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

/** §1.5: tokens are null or a non-empty string and the key is always present. */
function expectPage(body: Record<string, unknown>, listKey: string): void {
  expect(Object.keys(body)).toContain(listKey);
  expect(Array.isArray(body[listKey])).toBe(true);
  expect(Object.hasOwn(body, 'nextPageToken')).toBe(true);
  const t = body.nextPageToken;
  expect(t === null || (typeof t === 'string' && t.length > 0), `nextPageToken ${JSON.stringify(t)}`).toBe(
    true,
  );
}

/** No null anywhere (the client has defaults for every optional field) and no snake_case keys. */
function expectNoNullsNoSnake(v: unknown, where = '$'): void {
  expect(v, `${where} is null`).not.toBeNull();
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      expectNoNullsNoSnake(x, `${where}[${i}]`);
    });
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (where.endsWith('.statusMetadata') || where.includes('.statusMetadata.')) continue; // free-form
      expect(k, `${where}.${k} is not camelCase`).not.toMatch(/_/);
      if (k === 'nextPageToken') continue;
      expectNoNullsNoSnake(x, `${where}.${k}`);
    }
  }
}

function expectBatchMetadata(b: Record<string, unknown>, id: string, type: string, content: string): void {
  expect(Object.keys(b).sort()).toEqual([
    'batchContentType',
    'batchId',
    'batchType',
    'createdDate',
    'displayName',
    'expiryDate',
  ]);
  expect(b).toMatchObject({ batchId: id, batchType: type, batchContentType: content });
  expect(b.displayName).toBeTypeOf('string');
  expect(b.createdDate).toMatch(ISO_Z);
  expect(b.expiryDate).toMatch(ISO_Z);
  const life = Date.parse(b.expiryDate as string) - Date.parse(b.createdDate as string);
  expect(life).toBe(7 * 24 * 3600 * 1000);
}

/** Pages through a listing the way the client does: until nextPageToken is null. */
async function allPages(
  h: StagingHarness,
  url: string,
  listKey: string,
): Promise<{ items: any[]; pages: number }> {
  const items: any[] = [];
  let token: string | null = null;
  let pages = 0;
  const seen = new Set<string>();
  do {
    const res: { statusCode: number; body: string; headers: Record<string, unknown>; json(): any } =
      await h.app.inject({
        method: 'GET',
        url: `${url}${url.includes('?') ? '&' : '?'}api_key=key-a${token ? `&nextPageToken=${encodeURIComponent(token)}` : ''}`,
      });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body: Record<string, any> = res.json();
    expectPage(body, listKey);
    expectNoNullsNoSnake({ ...body, nextPageToken: undefined });
    items.push(...body[listKey]);
    token = body.nextPageToken;
    if (token) {
      expect(seen.has(token), 'a token repeats: the client would loop').toBe(false);
      seen.add(token);
    }
    pages++;
    expect(pages).toBeLessThan(200);
  } while (token !== null);
  return { items, pages };
}

describe('Data Staging wire contract (client requests, §1.5 responses)', () => {
  let h: StagingHarness;
  beforeAll(async () => {
    await flushRedisTestDb();
    h = await startStagingHarness({
      redisUrl: redisTestUrl(),
      store: { driver: 'fs', dir: await useTempDir() },
    });
  });
  afterAll(() => h?.close());

  it('root discovery: GET {base}?api_key answers a JSON object naming the workspace, no redirect', async () => {
    for (const url of ['/?api_key=key-a', '/?api_key=key-a&nocache=true']) {
      const res = await h.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.json().workspace).toBe('ws-a');
    }
  });

  it('list batches on an empty workspace: both keys, token null', async () => {
    const res = await h.app.inject({ method: 'GET', url: `${DS}/batches?api_key=key-a` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ batches: [], nextPageToken: null });
  });

  it('single image upload: multipart form whose field is named after the file, displayName with a "+" space', async () => {
    for (const name of ['a.jpg', 'b.jpg', 'c.jpg']) {
      const form = imageForm(name, jpeg());
      const res = await h.app.inject({
        method: 'POST',
        url: `${DS}/batches/simple-1/upload/image?api_key=key-a&displayName=My+Batch&fileName=${name}`,
        ...form,
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ status: 'ok' });
    }
    // a retried upload of the same file overwrites, it does not duplicate
    const again = await h.app.inject({
      method: 'POST',
      url: `${DS}/batches/simple-1/upload/image?api_key=key-a&displayName=My+Batch&fileName=a.jpg`,
      ...imageForm('a.jpg', jpeg()),
    });
    expect(again.statusCode).toBe(200);

    const meta = await h.app.inject({ method: 'GET', url: `${DS}/batches/simple-1?api_key=key-a` });
    expect(meta.statusCode).toBe(200);
    expect(Object.keys(meta.json())).toEqual(['batch']);
    expectBatchMetadata(meta.json().batch, 'simple-1', 'simple-batch', 'images');
    expect(meta.json().batch.displayName).toBe('My Batch');

    const count = await h.app.inject({ method: 'GET', url: `${DS}/batches/simple-1/count?api_key=key-a` });
    expect(count.json()).toEqual({ count: 3 });
    expect(Number.isInteger(count.json().count)).toBe(true);
    expect(count.body).not.toMatch(/\d\.\d/);

    const { items } = await allPages(h, `${DS}/batches/simple-1/list`, 'filesMetadata');
    expect(items.map((f) => f.fileName)).toEqual(['a.jpg', 'b.jpg', 'c.jpg']);
    for (const f of items) {
      expect(Object.keys(f).sort()).toEqual(['contentType', 'downloadURL', 'fileName']);
      expect(f.downloadURL).toMatch(/^https?:\/\//);
      const got = await h.app.inject({ method: 'GET', url: pathOf(f.downloadURL) });
      expect(got.statusCode).toBe(200);
      expect(Buffer.compare(got.rawPayload, jpeg())).toBe(0);
    }
    const shards = await h.app.inject({ method: 'GET', url: `${DS}/batches/simple-1/shards?api_key=key-a` });
    expect(shards.json()).toEqual({ shards: [], nextPageToken: null });
  });

  it('video upload URL: empty-body POST, extensionHeaders of strings, PUT with exactly those headers', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: `${DS}/batches/vids/upload/video?api_key=key-a&fileName=clip.mp4&displayName=vids`,
      headers: { 'content-length': '0' },
    });
    expect(res.statusCode, res.body).toBe(200);
    const d = res.json().signedURLDetails;
    expect(d.uploadURL).toMatch(/^https?:\/\//);
    expect(new URL(d.uploadURL).searchParams.has('api_key')).toBe(false);
    expect(d.extensionHeaders).toBeTypeOf('object');
    for (const v of Object.values(d.extensionHeaders)) expect(v).toBeTypeOf('string');
    // the client sends no Content-Type unless an extension header sets one
    const put = await h.app.inject({
      method: 'PUT',
      url: pathOf(d.uploadURL),
      payload: Buffer.alloc(10_000, 1),
      headers: { ...d.extensionHeaders },
    });
    expect(put.statusCode).toBe(200);
    const meta = await h.app.inject({ method: 'GET', url: `${DS}/batches/vids?api_key=key-a` });
    expectBatchMetadata(meta.json().batch, 'vids', 'simple-batch', 'videos');
    const { items } = await allPages(h, `${DS}/batches/vids/list`, 'filesMetadata');
    expect(items).toMatchObject([{ fileName: 'clip.mp4', contentType: 'videos' }]);
  });

  it('bulk shards: empty-body POST per shard, PUT tar, count/list/shards grow after indexing; pagination until null', async () => {
    const names: string[] = [];
    const shardIds: string[] = [];
    for (let s = 0; s < 3; s++) {
      const entries = Array.from({ length: 90 }, (_, i) => ({
        name: `img-${s}-${String(i).padStart(3, '0')}.jpg`,
        body: jpeg(i % 250),
      }));
      names.push(...entries.map((e) => e.name));
      shardIds.push(await uploadShard(h, DS, 'bulk-1', await buildTar(entries), 'Bulk One'));
    }
    for (const id of shardIds) {
      const s = await waitShard(h, DS, 'bulk-1', id);
      expect(s).toMatchObject({ statusName: 'shard-ingested', statusType: 'success', shardObjectsCount: 90 });
      expect(s.eventTimestamp).toMatch(ISO_Z);
      expect(Number.isInteger(s.shardObjectsCount)).toBe(true);
    }
    const meta = await h.app.inject({ method: 'GET', url: `${DS}/batches/bulk-1?api_key=key-a` });
    expectBatchMetadata(meta.json().batch, 'bulk-1', 'sharded-batch', 'images');
    expect(
      (await h.app.inject({ method: 'GET', url: `${DS}/batches/bulk-1/count?api_key=key-a` })).json(),
    ).toEqual({ count: 270 });

    // default page size 100 → 3 pages, the last with a null token
    const { items, pages } = await allPages(h, `${DS}/batches/bulk-1/list`, 'filesMetadata');
    expect(pages).toBe(3);
    expect(items.map((f) => f.fileName)).toEqual([...names].sort());
    for (const f of items) {
      expect(Object.keys(f).sort()).toEqual(['contentType', 'downloadURL', 'fileName', 'shardId']);
      expect(shardIds).toContain(f.shardId);
    }
    // stable across listings (the client's resume log keys on fileName + shardId)
    const again = await allPages(h, `${DS}/batches/bulk-1/list`, 'filesMetadata');
    expect(again.items.map((f) => `${f.fileName}/${f.shardId}`)).toEqual(
      items.map((f) => `${f.fileName}/${f.shardId}`),
    );

    const shards = await allPages(h, `${DS}/batches/bulk-1/shards?pageSize=2`, 'shards');
    expect(shards.pages).toBe(2);
    expect(shards.items.map((s) => s.shardId).sort()).toEqual([...shardIds].sort());
    for (const s of shards.items) {
      for (const k of ['shardId', 'statusName', 'statusType', 'eventTimestamp', 'shardObjectsCount'])
        expect(Object.hasOwn(s, k), k).toBe(true);
    }
  });

  it('8 parallel shard-URL requests creating a new batch all succeed (the client uploads 8 shards at once)', async () => {
    for (let round = 0; round < 5; round++) {
      const res = await Promise.all(
        Array.from({ length: 8 }, () =>
          h.app.inject({
            method: 'POST',
            url: `${DS}/batches/race-${round}/bulk-upload/image-files?api_key=key-a&displayName=race`,
          }),
        ),
      );
      expect(res.map((r) => r.statusCode)).toEqual(Array(8).fill(200));
    }
  });

  it('parts on a non-multipart batch is a JSON 400; count/list of an unknown batch a JSON 404', async () => {
    const parts = await h.app.inject({ method: 'GET', url: `${DS}/batches/bulk-1/parts?api_key=key-a` });
    expect(parts.statusCode).toBe(400);
    expect(parts.json().error).toBeTypeOf('string');
    for (const p of ['', '/count', '/list', '/shards']) {
      const res = await h.app.inject({ method: 'GET', url: `${DS}/batches/nope${p}?api_key=key-a` });
      expect(res.statusCode, p).toBe(404);
      expect(res.json().error).toBeTypeOf('string');
    }
  });

  it('list batches: newest first, every page valid, tokens until null (pageSize as the CLI sends it)', async () => {
    const { items, pages } = await allPages(h, `${DS}/batches?pageSize=3`, 'batches');
    expect(pages).toBe(3);
    expect(items.map((b) => b.batchId).sort()).toEqual([
      'bulk-1',
      'race-0',
      'race-1',
      'race-2',
      'race-3',
      'race-4',
      'simple-1',
      'vids',
    ]);
    for (const b of items) expectBatchMetadata(b, b.batchId, b.batchType, b.batchContentType);
    const created = items.map((b) => Date.parse(b.createdDate));
    expect([...created].sort((a, b) => b - a)).toEqual(created);
  });

  it('a mount-less base URL without the trailing slash reaches the same routes', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/data-staging/v1/external/ws-a/batches/bulk-1/count?api_key=key-a',
    });
    expect(res.json()).toEqual({ count: 270 });
  });
});
