/**
 * Reference ingests (spec §2.11, §2.12, §4.2): the api records the request, the scheduler's worker
 * downloads in the background through the SSRF guard with bounded concurrency and retries.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import { QUEUE_PREFIX, REFERENCE_INGEST_QUEUE, type ReferenceIngestJob } from '@visionbatch/shared/queues';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import { jpeg, png, type StagingHarness, startReceiver, startStagingHarness } from './staging-support.ts';

const execFileAsync = promisify(execFile);
const DS = '/data-staging/v1/external/ws-a';
const MAX_IMAGE = 32 * 1024;

describe('reference ingests', () => {
  let h: StagingHarness;
  let files: http.Server;
  let base: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const flaky = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  let n = 0;
  let batch: string;
  /** A real 1 s, 10 fps, 64×48 H.264 clip. */
  let clip: Buffer;

  beforeAll(async () => {
    await flushRedisTestDb();
    const clipPath = path.join(await useTempDir(), 'clip.mp4');
    await execFileAsync('ffmpeg', [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10:duration=1'],
      ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', clipPath],
    ]);
    clip = await readFile(clipPath);
    files = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const p = url.pathname;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const done = (status: number, body: Buffer | string = '', headers: Record<string, string> = {}) => {
        setTimeout(
          () => {
            inFlight--;
            res.writeHead(status, headers).end(body);
          },
          Number(url.searchParams.get('delay') ?? 0),
        );
      };
      if (p.startsWith('/img/')) return done(200, jpeg(p.length % 200));
      if (p === '/png') return done(200, png());
      if (p === '/clip.mp4') return done(200, clip);
      if (p === '/text') return done(200, 'plain text, not an image');
      if (p === '/big') return done(200, jpeg(1, MAX_IMAGE + 1));
      if (p === '/to-private') return done(302, '', { location: 'http://10.0.0.9/a.jpg' });
      if (p === '/to-img') return done(302, '', { location: '/img/redirected' });
      if (p.startsWith('/flaky/')) {
        const left = flaky.get(p) ?? 2;
        flaky.set(p, left - 1);
        return left > 0 ? done(503, 'busy') : done(200, jpeg(3));
      }
      if (p === '/refs.jsonl') {
        const lines = Array.from({ length: 300 }, (_, i) =>
          JSON.stringify({ name: `j${String(i).padStart(3, '0')}.jpg`, url: `${base}/img/j${i}` }),
        );
        return done(200, `${lines.join('\n')}\n`);
      }
      if (p === '/bad.jsonl')
        return done(200, `${JSON.stringify({ name: 'a.jpg', url: `${base}/img/a` })}\n{not json\n`);
      if (p === '/wrong-shape.jsonl') return done(200, `${JSON.stringify({ file: 'a.jpg' })}\n`);
      done(404, 'missing');
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    receiver = await startReceiver();
    h = await startStagingHarness({
      redisUrl: redisTestUrl(),
      store: { driver: 'fs', dir: await useTempDir() },
      env: { VB_MAX_IMAGE_BYTES: String(MAX_IMAGE) },
    });
    await h.startReferences({ allow: ['127.0.0.1'], concurrency: 3 });
  });
  afterAll(async () => {
    await h?.close();
    await receiver?.close();
    await new Promise<void>((r) => files.close(() => r()));
  });
  beforeEach(() => {
    batch = `refs-${++n}`;
  });

  const post = (body: unknown, kind = 'image') =>
    h.app.inject({
      method: 'POST',
      url: `${DS}/batches/${batch}/bulk-upload/${kind}-references?api_key=key-a&displayName=Refs`,
      payload: body as object,
    });
  const listed = async () =>
    (
      await h.app.inject({ method: 'GET', url: `${DS}/batches/${batch}/list?api_key=key-a&pageSize=1000` })
    ).json().filesMetadata;
  const eventsOf = (ingestId: string) =>
    receiver.bodies.filter((b) => b.ingest_id === ingestId && b.batch_id === batch);
  const statusOf = async (ingestId: string) => {
    await waitFor(
      async () => eventsOf(ingestId).some((b) => b.notification.type === 'ingest-status-notification-v1'),
      { timeoutMs: 20_000, intervalMs: 50, message: `ingest-status of ${ingestId}` },
    );
    return eventsOf(ingestId).find((b) => b.notification.type === 'ingest-status-notification-v1')!;
  };

  it('inline list: good files ingested, unsafe/failed ones reported with reasons, both notification kinds', async () => {
    const refs = [
      { name: 'a.jpg', url: `${base}/img/a` },
      { name: 'b.png', url: `${base}/png` },
      { name: 'redirected.jpg', url: `${base}/to-img` },
      { name: 'flaky.jpg', url: `${base}/flaky/${batch}` },
      { name: 'private.jpg', url: 'http://10.0.0.5/a.jpg' },
      { name: 'metadata.jpg', url: 'http://169.254.169.254/latest/meta-data/iam/' },
      { name: 'file.jpg', url: 'file:///etc/passwd' },
      { name: 'redir-private.jpg', url: `${base}/to-private` },
      { name: 'missing.jpg', url: `${base}/nope` },
      { name: 'text.jpg', url: `${base}/text` },
      { name: 'big.jpg', url: `${base}/big` },
      { name: 'a.jpg', url: `${base}/img/a-again` },
      { name: '../up.jpg', url: `${base}/img/up` },
    ];
    const res = await post({
      imageReferences: refs,
      ingestId: 'inline-1',
      notificationsURL: receiver.url,
      notificationCategories: ['ingest-status', 'files-status'],
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toEqual({
      ingestId: 'inline-1',
      shardIds: [expect.stringMatching(/^[A-Za-z0-9_-]+$/)],
      duplicated: false,
    });

    const status = await statusOf('inline-1');
    expect(status).toMatchObject({
      type: 'roboflow-data-staging-notification-v1',
      shard_id: null,
      notification: { success: true },
      delivery_attempt: 1,
    });
    const filesEvt = eventsOf('inline-1').find(
      (b) => b.notification.type === 'ingest-files-status-notification-v1',
    )!;
    expect(filesEvt.shard_id).toBe(body.shardIds[0]);
    // the shard was processed: success, with its failures listed (spec §4.2's example)
    expect(filesEvt.notification.success).toBe(true);
    expect(filesEvt.notification.ingested_files.sort()).toEqual([
      'a.jpg',
      'b.png',
      'flaky.jpg',
      'redirected.jpg',
    ]);
    const failed = Object.fromEntries(
      filesEvt.notification.failed_files.map((f: any) => [f.file_name, f.type]),
    );
    expect(failed).toEqual({
      'private.jpg': 'unsafe-url-detected',
      'metadata.jpg': 'unsafe-url-detected',
      'file.jpg': 'unsafe-url-detected',
      'redir-private.jpg': 'unsafe-url-detected',
      'missing.jpg': 'download-failed',
      'text.jpg': 'not-an-image',
      'big.jpg': 'file-size-limit-exceeded',
      'a.jpg': 'duplicated-file-name',
      '../up.jpg': 'invalid-file-name',
    });
    const unsafeReason = filesEvt.notification.failed_files.find(
      (f: any) => f.file_name === 'metadata.jpg',
    ).reason;
    expect(unsafeReason).toContain('169.254.169.254');

    const files = await listed();
    expect(files.map((f: any) => f.fileName).sort()).toEqual([
      'a.jpg',
      'b.png',
      'flaky.jpg',
      'redirected.jpg',
    ]);
    for (const f of files) expect(f.shardId).toBe(body.shardIds[0]);
    const meta = (await h.app.inject({ method: 'GET', url: `${DS}/batches/${batch}?api_key=key-a` })).json()
      .batch;
    expect(meta).toMatchObject({
      batchType: 'sharded-batch',
      batchContentType: 'images',
      displayName: 'Refs',
    });
    const shards = (
      await h.app.inject({ method: 'GET', url: `${DS}/batches/${batch}/shards?api_key=key-a` })
    ).json().shards;
    expect(shards).toMatchObject([
      { shardId: body.shardIds[0], statusName: 'shard-ingested', shardObjectsCount: 4 },
    ]);
  });

  it('without an allowlist, 127.0.0.1 is refused: failed files and a failed ingest-status', async () => {
    await h.startReferences({ allow: [], concurrency: 3 });
    try {
      const res = await post({
        imageReferences: [
          { name: 'a.jpg', url: `${base}/img/a` },
          { name: 'b.jpg', url: `http://localhost:${new URL(base).port}/img/b` },
        ],
        ingestId: 'no-allow',
        notificationsURL: receiver.url,
        notificationCategories: ['files-status', 'ingest-status'],
      });
      expect(res.statusCode).toBe(200);
      const status = await statusOf('no-allow');
      expect(status.notification).toMatchObject({
        success: false,
        error_details: { type: 'unsafe-url-detected' },
      });
      expect(status.notification.error_details.reason).toMatch(/127\.0\.0\.1|::1/);
      const filesEvt = eventsOf('no-allow').find(
        (b) => b.notification.type === 'ingest-files-status-notification-v1',
      )!;
      expect(filesEvt.notification.failed_files.map((f: any) => f.type)).toEqual([
        'unsafe-url-detected',
        'unsafe-url-detected',
      ]);
      expect(await listed()).toEqual([]);
    } finally {
      await h.startReferences({ allow: ['127.0.0.1'], concurrency: 3 });
    }
  });

  it('default category is ingest-status only', async () => {
    await post({
      imageReferences: [{ name: 'a.jpg', url: `${base}/img/a` }],
      ingestId: 'default-cat',
      notificationsURL: receiver.url,
    });
    await statusOf('default-cat');
    await new Promise((r) => setTimeout(r, 200));
    expect(eventsOf('default-cat').map((b) => b.notification.type)).toEqual([
      'ingest-status-notification-v1',
    ]);
  });

  it('a repeated identical request is deduplicated; the same ingestId with another list is a new ingest', async () => {
    const refs = [{ name: 'a.jpg', url: `${base}/img/a` }];
    const first = (await post({ imageReferences: refs })).json();
    expect(first.duplicated).toBe(false);
    expect(first.ingestId).toMatch(/^[0-9a-f]{32}$/); // server-assigned: a digest of batch + list
    const again = (await post({ imageReferences: refs })).json();
    expect(again).toEqual({ ...first, duplicated: true });
    const withId1 = (
      await post({ imageReferences: [{ name: 'b.jpg', url: `${base}/img/b` }], ingestId: 'chunked' })
    ).json();
    const withId2 = (
      await post({ imageReferences: [{ name: 'c.jpg', url: `${base}/img/c` }], ingestId: 'chunked' })
    ).json();
    expect(withId1).toMatchObject({ ingestId: 'chunked', duplicated: false });
    expect(withId2).toMatchObject({ ingestId: 'chunked', duplicated: false });
    expect(withId2.shardIds).not.toEqual(withId1.shardIds);
    await waitFor(async () => (await listed()).length === 3, {
      timeoutMs: 20_000,
      intervalMs: 50,
      message: '3 files',
    });
    // the identical list in another batch is not a duplicate
    const other = await h.app.inject({
      method: 'POST',
      url: `${DS}/batches/${batch}-x/bulk-upload/image-references?api_key=key-a`,
      payload: { imageReferences: refs },
    });
    expect(other.json().duplicated).toBe(false);
  });

  it('a JSONL references file: 300 references in two shards, downloaded with bounded concurrency', async () => {
    maxInFlight = 0;
    const res = await post({
      imageReferencesURL: `${base}/refs.jsonl`,
      ingestId: 'jsonl-1',
      notificationsURL: receiver.url,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ingestId: 'jsonl-1', duplicated: false });
    expect((await statusOf('jsonl-1')).notification.success).toBe(true);
    expect(
      (await h.app.inject({ method: 'GET', url: `${DS}/batches/${batch}/count?api_key=key-a` })).json().count,
    ).toBe(300);
    const shards = (
      await h.app.inject({ method: 'GET', url: `${DS}/batches/${batch}/shards?api_key=key-a` })
    ).json().shards;
    expect(shards.map((s: any) => s.shardObjectsCount)).toEqual([256, 44]);
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(maxInFlight).toBeGreaterThan(0);
  });

  it('malformed JSONL fails the ingest with a reason naming the line', async () => {
    await post({
      imageReferencesURL: `${base}/bad.jsonl`,
      ingestId: 'bad-jsonl',
      notificationsURL: receiver.url,
    });
    const status = await statusOf('bad-jsonl');
    expect(status.notification).toEqual({
      type: 'ingest-status-notification-v1',
      success: false,
      error_details: { type: 'invalid-references-file', reason: 'line 2 is not valid JSON' },
    });
    await post({
      imageReferencesURL: `${base}/wrong-shape.jsonl`,
      ingestId: 'shape-jsonl',
      notificationsURL: receiver.url,
    });
    expect((await statusOf('shape-jsonl')).notification.error_details.reason).toMatch(
      /line 1 .*"name" and "url"/,
    );
    expect(await listed()).toEqual([]);
  });

  it('references file URLs go through the guard too: file://, private addresses, a 404', async () => {
    await post({
      imageReferencesURL: 'file:///etc/passwd',
      ingestId: 'file-url',
      notificationsURL: receiver.url,
    });
    expect((await statusOf('file-url')).notification.error_details.type).toBe('unsafe-url-detected');
    await post({
      imageReferencesURL: 'http://169.254.169.254/refs.jsonl',
      ingestId: 'meta-url',
      notificationsURL: receiver.url,
    });
    expect((await statusOf('meta-url')).notification.error_details.type).toBe('unsafe-url-detected');
    await post({
      imageReferencesURL: `${base}/to-private`,
      ingestId: 'redir-url',
      notificationsURL: receiver.url,
    });
    expect((await statusOf('redir-url')).notification.error_details.type).toBe('unsafe-url-detected');
    await post({
      imageReferencesURL: `${base}/nope.jsonl`,
      ingestId: 'missing-url',
      notificationsURL: receiver.url,
    });
    expect((await statusOf('missing-url')).notification.error_details.type).toBe(
      'references-file-download-failed',
    );
  });

  it('video references make a simple batch of videos without shards, probed once at ingest', async () => {
    const res = await post(
      {
        videoReferences: [
          { name: 'clip.mp4', url: `${base}/clip.mp4` },
          { name: 'not-a-video.mp4', url: `${base}/img/not-a-video` },
        ],
        ingestId: 'vid-1',
        notificationsURL: receiver.url,
        notificationCategories: ['ingest-status', 'files-status'],
      },
      'video',
    );
    expect(res.json()).toEqual({ ingestId: 'vid-1', duplicated: false });
    await statusOf('vid-1');
    const meta = (await h.app.inject({ method: 'GET', url: `${DS}/batches/${batch}?api_key=key-a` })).json()
      .batch;
    expect(meta).toMatchObject({ batchType: 'simple-batch', batchContentType: 'videos' });
    expect((await listed()).map((f: any) => [f.fileName, f.contentType, f.shardId])).toEqual([
      ['clip.mp4', 'videos', undefined],
    ]);
    // the probe is stored with the file's record, so planning never downloads the video again
    expect(await h.deps.batches.getVideoProbe('ws-a', batch, '', 'clip.mp4')).toEqual({
      width: 64,
      height: 48,
      fps: { num: 10, den: 1 },
      frameCount: 10,
      durationSec: 1,
    });
    const stored = await h.store.getBuffer(`ws/ws-a/batches/${batch}/_/clip.mp4`);
    expect(Buffer.compare(stored, clip)).toBe(0);
    const filesEvt = eventsOf('vid-1').find(
      (b) => b.notification.type === 'ingest-files-status-notification-v1',
    )!;
    expect(filesEvt.notification).toMatchObject({
      success: true,
      ingested_files: ['clip.mp4'],
      failed_files: [
        { type: 'not-a-video', file_name: 'not-a-video.mp4', reason: expect.stringMatching(/video/) },
      ],
    });
  });

  it('an ingest whose store fails on every attempt ends with a failed ingest-status (ingest-error), not silently', async () => {
    const broken: ObjectStore = Object.assign(Object.create(h.store), {
      put: async () => {
        throw new Error('store unavailable');
      },
    });
    await h.startReferences({ allow: ['127.0.0.1'], concurrency: 3, store: broken });
    const queue = new Queue<ReferenceIngestJob>(REFERENCE_INGEST_QUEUE, {
      connection: h.redis,
      prefix: QUEUE_PREFIX,
    });
    try {
      await queue.add(
        'ingest',
        {
          workspace: 'ws-a',
          batchId: batch,
          ingestId: 'store-down',
          digest: 'd'.repeat(64),
          kind: 'images',
          references: [{ name: 'a.jpg', url: `${base}/img/a` }],
          notificationsURL: receiver.url,
          categories: ['ingest-status'],
        },
        { attempts: 2, backoff: { type: 'fixed', delay: 50 } },
      );
      expect((await statusOf('store-down')).notification).toEqual({
        type: 'ingest-status-notification-v1',
        success: false,
        error_details: {
          type: 'ingest-error',
          reason: 'the ingest could not finish after 2 attempts: store unavailable',
        },
      });
    } finally {
      await queue.close();
      await h.startReferences({ allow: ['127.0.0.1'], concurrency: 3 });
    }
  });

  it('invalid bodies are 400s naming the field', async () => {
    const one = { name: 'a.jpg', url: `${base}/img/a` };
    const cases: Array<[unknown, string]> = [
      [{}, 'imageReferences'],
      [{ imageReferences: [one], imageReferencesURL: `${base}/refs.jsonl` }, 'imageReferences'],
      [{ imageReferences: [] }, 'imageReferences'],
      [{ imageReferences: [{ name: 'a.jpg' }] }, 'imageReferences[0]'],
      [{ imageReferences: 'nope' }, 'imageReferences'],
      [
        {
          imageReferences: Array.from({ length: 20_001 }, (_, i) => ({
            name: `${i}.jpg`,
            url: `${base}/img/${i}`,
          })),
        },
        'imageReferences',
      ],
      [{ imageReferences: [one], notificationCategories: ['everything'] }, 'notificationCategories'],
      [{ imageReferences: [one], ingestId: 'x'.repeat(1025) }, 'ingestId'],
      [{ imageReferences: [one], notificationsURL: 'ftp://x' }, 'notificationsURL'],
      [{ imageReferencesURL: 7 }, 'imageReferencesURL'],
    ];
    for (const [body, field] of cases) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json().field).toBe(field);
    }
    // 20 000 references (the client's chunk) are accepted
    const big = await post({
      imageReferences: Array.from({ length: 20_000 }, (_, i) => ({
        name: `${i}.jpg`,
        url: `http://198.51.100.1/${i}`,
      })),
      notificationCategories: [],
    });
    expect(big.statusCode, big.body.slice(0, 200)).toBe(200);
    expect(big.json().shardIds).toHaveLength(Math.ceil(20_000 / 256));
  });
});
