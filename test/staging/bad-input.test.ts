/**
 * Data Staging bad input (spec §2.8, §2.10, §5.1, §5.2): every refusal is its own test, and for tar
 * shards the object store is inspected to prove nothing was written outside the batch.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { imageForm } from '../api/app-harness.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import {
  buildTar,
  filesUnder,
  jpeg,
  png,
  poisonTar,
  type StagingHarness,
  startReceiver,
  startStagingHarness,
  uploadShard,
  waitShard,
} from './staging-support.ts';

const DS = '/data-staging/v1/external/ws-a';
const MAX_IMAGE = 64 * 1024;

describe('Data Staging refuses bad input', () => {
  let h: StagingHarness;
  let parent: string;
  let storeDir: string;
  let n = 0;
  /** A fresh batch id per test, so each one inspects only its own objects. */
  let batch: string;

  beforeAll(async () => {
    await flushRedisTestDb();
    parent = await useTempDir();
    storeDir = path.join(parent, 'objects');
    await mkdir(storeDir);
    h = await startStagingHarness({
      redisUrl: redisTestUrl(),
      store: { driver: 'fs', dir: storeDir },
      env: { VB_MAX_IMAGE_BYTES: String(MAX_IMAGE) },
    });
  });
  afterAll(() => h?.close());
  beforeEach(() => {
    batch = `bad-${++n}`;
  });

  const get = (p: string) =>
    h.app.inject({
      method: 'GET',
      url: `${DS}/batches/${batch}${p}${p.includes('?') ? '&' : '?'}api_key=key-a`,
    });
  const listed = async () =>
    (await get('/list?pageSize=1000'))
      .json()
      .filesMetadata.map((f: { fileName: string }) => f.fileName)
      .sort();

  /** Uploads a shard, waits for indexing, returns the shard's wire record. */
  async function ingest(entries: Parameters<typeof buildTar>[0]): Promise<Record<string, any>> {
    const shardId = await uploadShard(h, DS, batch, await buildTar(entries));
    return waitShard(h, DS, batch, shardId);
  }

  /** Store keys of the whole store (the fs driver's own metadata files are not keys). */
  async function storeKeys(): Promise<string[]> {
    const out: string[] = [];
    for await (const o of h.store.listAll('')) out.push(o.key);
    return out.sort();
  }

  /**
   * The store holds exactly `names` for this batch; every other key is another test's staged file
   * (no stray key anywhere, shard tars removed); on disk nothing exists beside the store folder and
   * nothing inside it outside `ws/ws-a/batches/`.
   */
  async function expectStoreHoldsOnly(names: string[]): Promise<void> {
    const all = await storeKeys();
    const prefix = `ws/ws-a/batches/${batch}/_/`;
    expect(all.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length))).toEqual(
      [...names].sort(),
    );
    for (const k of all) expect(k, k).toMatch(/^ws\/ws-a\/batches\/bad-\d+\/_\/[^/]+$/);
    expect(await readdir(parent)).toEqual(['objects']);
    for (const f of await filesUnder(storeDir))
      expect(f, f).toMatch(/^ws\/ws-a\/batches\/bad-\d+\/_\/[^/]+$/);
  }
  const fileKey = (name: string) => `ws/ws-a/batches/${batch}/_/${name}`;

  const failedTypes = (s: Record<string, any>) =>
    Object.fromEntries(
      (s.statusMetadata.failedFiles as Array<{ file_name: string; type: string }>).map((f) => [
        f.file_name,
        f.type,
      ]),
    );

  it('invalid batch ids are a 400 naming the rule, on every staging route', async () => {
    for (const bad of ['Upper', 'has.dot', 'white%20space', 'x'.repeat(65), 'caf%C3%A9']) {
      for (const [method, p] of [
        ['GET', ''],
        ['GET', '/count'],
        ['GET', '/list'],
        ['GET', '/shards'],
        ['GET', '/parts'],
        ['POST', '/upload/video?fileName=a.mp4'],
        ['POST', '/bulk-upload/image-files'],
      ] as const) {
        const res = await h.app.inject({
          method,
          url: `${DS}/batches/${bad}${p}${p.includes('?') ? '&' : '?'}api_key=key-a`,
        });
        expect(res.statusCode, `${method} ${bad}${p}`).toBe(400);
        expect(res.json().error).toContain('^[a-z0-9_-]+$');
        expect(res.json().error).toContain('1-64');
      }
    }
    const form = imageForm('a.jpg', jpeg());
    const res = await h.app.inject({
      method: 'POST',
      url: `${DS}/batches/BAD/upload/image?api_key=key-a&fileName=a.jpg`,
      ...form,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().field).toBe('batch_id');
  });

  it('an oversize single image is a 413 and is neither stored nor listed', async () => {
    const form = imageForm('big.jpg', jpeg(1, MAX_IMAGE + 1));
    const res = await h.app.inject({
      method: 'POST',
      url: `${DS}/batches/${batch}/upload/image?api_key=key-a&fileName=big.jpg`,
      ...form,
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toContain(String(MAX_IMAGE));
    expect((await storeKeys()).filter((k) => k.includes(`/${batch}/`))).toEqual([]);
    const count = await get('/count');
    if (count.statusCode === 200) expect(count.json().count).toBe(0);
    else expect(count.statusCode).toBe(404);
  });

  it('a single upload whose file name is a path is a 400', async () => {
    for (const name of ['../evil.jpg', '%2Fetc%2Fevil.jpg', 'a%2Fb.jpg']) {
      const res = await h.app.inject({
        method: 'POST',
        url: `${DS}/batches/${batch}/upload/image?api_key=key-a&fileName=${name}`,
        ...imageForm('x.jpg', jpeg()),
      });
      expect(res.statusCode, name).toBe(400);
    }
    await expectStoreHoldsOnly([]);
  });

  it('non-images in a tar are failed files, the images beside them are ingested', async () => {
    const s = await ingest([
      { name: 'ok.jpg', body: jpeg() },
      { name: 'ok.png', body: png() },
      { name: 'readme.txt', body: 'hello' },
      { name: 'fake.jpg', body: 'not really a jpeg' },
      { name: 'script.sh', body: '#!/bin/sh\nrm -rf /\n' },
    ]);
    expect(s).toMatchObject({ statusName: 'shard-ingested', shardObjectsCount: 2 });
    expect(failedTypes(s)).toEqual({
      'readme.txt': 'not-an-image',
      'fake.jpg': 'not-an-image',
      'script.sh': 'not-an-image',
    });
    expect(await listed()).toEqual(['ok.jpg', 'ok.png']);
    await expectStoreHoldsOnly(['ok.jpg', 'ok.png']);
  });

  it('an oversize image inside a tar is a failed file of type file-size-limit-exceeded', async () => {
    const s = await ingest([
      { name: 'small.jpg', body: jpeg() },
      { name: 'huge.jpg', body: jpeg(2, MAX_IMAGE + 10) },
    ]);
    expect(failedTypes(s)).toEqual({ 'huge.jpg': 'file-size-limit-exceeded' });
    await expectStoreHoldsOnly(['small.jpg']);
  });

  it('names with ../ and absolute paths write nothing outside the batch', async () => {
    const s = await ingest([
      { name: '../escape.jpg', body: jpeg() },
      { name: '../../../../../../tmp/escape2.jpg', body: jpeg() },
      { name: '/etc/abs.jpg', body: jpeg() },
      { name: 'dir/../../up.jpg', body: jpeg() },
      { name: 'nested/inner.jpg', body: jpeg() },
      { name: '..', body: jpeg() },
      { name: 'fine.jpg', body: jpeg() },
    ]);
    expect(s.statusName).toBe('shard-ingested');
    expect(s.shardObjectsCount).toBe(1);
    const types = failedTypes(s);
    expect(Object.keys(types).length).toBe(6);
    expect(types['../escape.jpg']).toBe('unsafe-path');
    expect(types['/etc/abs.jpg']).toBe('unsafe-path');
    expect(types['dir/../../up.jpg']).toBe('unsafe-path');
    expect(await listed()).toEqual(['fine.jpg']);
    await expectStoreHoldsOnly(['fine.jpg']);
  });

  it('symlinks and hard links in a tar are refused and never followed', async () => {
    const s = await ingest([
      { name: 'passwd.jpg', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'up.jpg', type: 'symlink', linkname: '../../../../outside.jpg' },
      { name: 'real.jpg', body: jpeg() },
      { name: 'hard.jpg', type: 'link', linkname: 'real.jpg' },
      { name: 'hard-etc.jpg', type: 'link', linkname: '/etc/shadow' },
      // a regular file reusing a refused link's name is still only itself
      { name: 'passwd.jpg', body: jpeg(9) },
    ]);
    const types = failedTypes(s);
    expect(types['up.jpg']).toBe('unsupported-entry');
    expect(types['hard.jpg']).toBe('unsupported-entry');
    expect(types['hard-etc.jpg']).toBe('unsupported-entry');
    expect(await listed()).toEqual(['passwd.jpg', 'real.jpg']);
    await expectStoreHoldsOnly(['passwd.jpg', 'real.jpg']);
    // the stored bytes are the regular file's, not /etc/passwd
    const bytes = await h.store.getBuffer(fileKey('passwd.jpg'));
    expect(Buffer.compare(bytes, jpeg(9))).toBe(0);
  });

  it('duplicate names: the second copy in a tar and a name already in the batch are failed files', async () => {
    const first = await ingest([
      { name: 'dup.jpg', body: jpeg(1) },
      { name: 'dup.jpg', body: jpeg(2) },
      { name: 'other.jpg', body: jpeg(3) },
    ]);
    expect(failedTypes(first)).toEqual({ 'dup.jpg': 'duplicated-file-name' });
    const second = await ingest([
      { name: 'other.jpg', body: jpeg(4) },
      { name: 'new.jpg', body: jpeg(5) },
    ]);
    expect(failedTypes(second)).toEqual({ 'other.jpg': 'duplicated-file-name' });
    expect(await listed()).toEqual(['dup.jpg', 'new.jpg', 'other.jpg']);
    // the first copy wins: bytes unchanged
    expect(Buffer.compare(await h.store.getBuffer(fileKey('dup.jpg')), jpeg(1))).toBe(0);
    expect(Buffer.compare(await h.store.getBuffer(fileKey('other.jpg')), jpeg(3))).toBe(0);
    expect((await get('/count')).json().count).toBe(3);
  });

  it('a truncated tar fails the whole shard and lists nothing', async () => {
    const whole = await buildTar(
      Array.from({ length: 20 }, (_, i) => ({ name: `t${i}.jpg`, body: jpeg(i, 4000) })),
    );
    const cut = whole.subarray(0, Math.floor(whole.length * 0.6) + 100);
    const shardId = await uploadShard(h, DS, batch, cut);
    const s = await waitShard(h, DS, batch, shardId);
    expect(s).toMatchObject({ statusName: 'shard-ingest-failed', statusType: 'error', shardObjectsCount: 0 });
    expect(s.statusMetadata.errorType).toBe('invalid-archive');
    expect(s.statusMetadata.error).toMatch(/tar|shard/i);
    expect(await listed()).toEqual([]);
    expect((await get('/count')).json().count).toBe(0);
    await expectStoreHoldsOnly([]);
    // the uploaded tar itself is removed too
    expect((await storeKeys()).filter((k) => k.includes(shardId))).toEqual([]);
  });

  it('names the object store refuses are failed files; the good images beside them are ingested', async () => {
    const multibyte = `${'é'.repeat(100)}.jpg`; // 104 characters, 204 bytes
    const bad = [
      '.vb-meta.x.jpg',
      '.vb-tmp.x.jpg',
      `${'a'.repeat(197)}.jpg`,
      `${'b'.repeat(251)}.jpg`,
      multibyte,
    ];
    const s = await ingest([
      { name: 'good-1.jpg', body: jpeg(1) },
      ...bad.map((name) => ({ name, body: jpeg(2) })),
      { name: 'good-2.png', body: png() },
    ]);
    expect(s).toMatchObject({ statusName: 'shard-ingested', statusType: 'success', shardObjectsCount: 2 });
    expect(failedTypes(s)).toEqual(Object.fromEntries(bad.map((n) => [n, 'invalid-file-name'])));
    const reasons = Object.fromEntries(
      (s.statusMetadata.failedFiles as Array<{ file_name: string; reason: string }>).map((f) => [
        f.file_name,
        f.reason,
      ]),
    );
    expect(reasons['.vb-meta.x.jpg']).toContain('reserved ".vb-"');
    expect(reasons[multibyte]).toContain('longer than 200 bytes');
    expect(await listed()).toEqual(['good-1.jpg', 'good-2.png']);
    await expectStoreHoldsOnly(['good-1.jpg', 'good-2.png']);
  });

  it('poison shards (an entry declaring 200 MB carrying 4 KB, a cut-short ../x.jpg) fail with a reason; the next shard is indexed', async () => {
    for (const name of ['big.jpg', '../x.jpg']) {
      const shardId = await uploadShard(h, DS, batch, await poisonTar(name, 200_000_000, 4096));
      const s = await waitShard(h, DS, batch, shardId);
      expect(s).toMatchObject({
        statusName: 'shard-ingest-failed',
        statusType: 'error',
        shardObjectsCount: 0,
      });
      expect(s.statusMetadata).toEqual({
        errorType: 'invalid-archive',
        error: 'unreadable tar: Unexpected end of data',
      });
    }
    const s = await ingest([{ name: 'after.jpg', body: jpeg() }]);
    expect(s).toMatchObject({ statusName: 'shard-ingested', shardObjectsCount: 1 });
    expect(await listed()).toEqual(['after.jpg']);
    await expectStoreHoldsOnly(['after.jpg']);
  });

  it('files-status: success for a processed shard with failures listed, false only for a shard that could not be processed', async () => {
    const receiver = await startReceiver();
    try {
      const config = (ingestId: string) => ({
        name: 'notification_config.json',
        body: JSON.stringify({ ingestId, notificationsURL: receiver.url }),
      });
      await ingest([config('mixed'), { name: 'ok.jpg', body: jpeg() }, { name: 'notes.txt', body: 'text' }]);
      const broken = await uploadShard(
        h,
        DS,
        batch,
        await poisonTar('cut.jpg', 200_000_000, 4096, [config('broken')]),
      );
      await waitShard(h, DS, batch, broken);
      const events = async (ingestId: string) => {
        await waitFor(() => receiver.bodies.filter((b) => b.ingest_id === ingestId).length === 2, {
          message: `both events of ${ingestId}`,
        });
        const of = receiver.bodies.filter((b) => b.ingest_id === ingestId);
        const kind = (t: string) => of.find((b) => b.notification.type === t)!.notification;
        return {
          files: kind('ingest-files-status-notification-v1'),
          status: kind('ingest-status-notification-v1'),
        };
      };
      const mixed = await events('mixed');
      expect(mixed.files).toEqual({
        type: 'ingest-files-status-notification-v1',
        success: true,
        ingested_files: ['ok.jpg'],
        failed_files: [{ type: 'not-an-image', file_name: 'notes.txt', reason: expect.any(String) }],
        content_truncated: false,
      });
      expect(mixed.status).toEqual({ type: 'ingest-status-notification-v1', success: true });
      const failed = await events('broken');
      expect(failed.files).toEqual({
        type: 'ingest-files-status-notification-v1',
        success: false,
        ingested_files: [],
        failed_files: [],
        content_truncated: false,
        error_details: { type: 'invalid-archive', reason: 'unreadable tar: Unexpected end of data' },
      });
      expect(failed.status).toMatchObject({
        success: false,
        error_details: { type: 'invalid-archive', reason: expect.stringContaining(broken) },
      });
    } finally {
      await receiver.close();
    }
  });

  it('a shard whose tar cannot be read on any attempt fails with ingest-error instead of waiting forever', async () => {
    await h.deps.batches.ensure('ws-a', batch, {
      displayName: batch,
      batchType: 'sharded-batch',
      contentType: 'images',
    });
    // uploaded, but its tar is gone from the store: every attempt fails to open it
    await h.deps.batches.putShard('ws-a', batch, {
      shardId: 'ghost',
      statusName: 'shard-uploaded',
      statusType: 'info',
      eventTimestamp: new Date().toISOString(),
      shardObjectsCount: 0,
      registeredAt: Date.now(),
    });
    await h.deps.enqueueShard('ws-a', batch, 'ghost');
    const s = await waitShard(h, DS, batch, 'ghost');
    expect(s).toMatchObject({ statusName: 'shard-ingest-failed', statusType: 'error' });
    expect(s.statusMetadata.errorType).toBe('ingest-error');
    expect(s.statusMetadata.error).toMatch(/after 2 attempts: .*ghost\.tar/);
  });

  it('garbage that is not a tar at all fails the shard', async () => {
    const shardId = await uploadShard(
      h,
      DS,
      batch,
      Buffer.from('this is not a tar archive, just text'.repeat(40)),
    );
    const s = await waitShard(h, DS, batch, shardId);
    expect(s.statusName).toBe('shard-ingest-failed');
    expect(await listed()).toEqual([]);
  });

  it('a shard over 500 files ingests 500 and fails the rest with shard-file-limit-exceeded', async () => {
    const entries = Array.from({ length: 503 }, (_, i) => ({
      name: `f${String(i).padStart(4, '0')}.jpg`,
      body: jpeg(i % 250, 16),
    }));
    const s = await ingest(entries);
    expect(s.shardObjectsCount).toBe(500);
    expect(s.statusMetadata.failedFilesCount).toBe(3);
    expect(Object.values(failedTypes(s))).toEqual([
      'shard-file-limit-exceeded',
      'shard-file-limit-exceeded',
      'shard-file-limit-exceeded',
    ]);
    expect((await get('/count')).json().count).toBe(500);
  });

  it('a single upload into a sharded batch is a 409 (batch type fixed by the first upload)', async () => {
    await ingest([{ name: 'a.jpg', body: jpeg() }]);
    const res = await h.app.inject({
      method: 'POST',
      url: `${DS}/batches/${batch}/upload/image?api_key=key-a&fileName=b.jpg`,
      ...imageForm('b.jpg', jpeg()),
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().batchType).toBe('sharded-batch');
  });

  it('an unknown key is a 401 on the staging routes and a forged upload URL a 403', async () => {
    for (const [method, p] of [
      ['GET', '/batches'],
      ['GET', '/batches/x/list'],
      ['POST', '/batches/x/bulk-upload/image-files'],
    ] as const) {
      const res = await h.app.inject({ method, url: `${DS}${p}?api_key=wrong-key` });
      expect(res.statusCode, p).toBe(401);
    }
    const res = await h.app.inject({
      method: 'POST',
      url: `${DS}/batches/${batch}/bulk-upload/image-files?api_key=key-a`,
    });
    const u = new URL(res.json().signedURLDetails.uploadURL);
    u.searchParams.set('s', 'forged');
    const put = await h.app.inject({
      method: 'PUT',
      url: u.pathname + u.search,
      payload: await buildTar([{ name: 'a.jpg', body: jpeg() }]),
    });
    expect(put.statusCode).toBe(403);
  });
});
