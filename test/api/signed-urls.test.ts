import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  flushRedisTestDb,
  redisTestUrl,
  s3StoreConfig,
  useS3Bucket,
  useTempDir,
} from '../support/helpers.ts';
import { type AppHarness, imageForm, startApiHarness } from './app-harness.ts';

const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2048, 7)]);
const DS = '/data-staging/v1/external/ws-a';

for (const driver of ['fs', 's3'] as const) {
  describe(`signed URLs on the ${driver} store`, () => {
    const bucket = driver === 's3' ? useS3Bucket('signed') : '';
    let h: AppHarness;
    let dir: string;
    beforeAll(async () => {
      dir = await useTempDir();
      await flushRedisTestDb();
      h = await startApiHarness({
        redisUrl: redisTestUrl(),
        store: driver === 'fs' ? { driver: 'fs', dir } : s3StoreConfig(bucket),
      });
    });
    afterAll(() => h?.close());

    async function downloadUrl(): Promise<URL> {
      const form = imageForm('a.jpg', JPEG);
      const up = await h.app.inject({
        method: 'POST',
        url: `${DS}/batches/b1/upload/image?api_key=key-a&fileName=a.jpg&displayName=B`,
        ...form,
      });
      expect(up.statusCode).toBe(200);
      const list = await h.app.inject({ method: 'GET', url: `${DS}/batches/b1/list?api_key=key-a` });
      return new URL(list.json().filesMetadata[0].downloadURL);
    }
    const pathOf = (u: URL) => u.pathname + u.search;

    it('a valid download URL returns the exact bytes without an api_key', async () => {
      const u = await downloadUrl();
      expect(u.origin).toBe('http://vb.test');
      expect(u.searchParams.has('api_key')).toBe(false);
      const res = await h.app.inject({ method: 'GET', url: pathOf(u) });
      expect(res.statusCode).toBe(200);
      expect(Buffer.compare(res.rawPayload, JPEG)).toBe(0);
    });

    it('refuses a tampered signature, object, batch or workspace with 403', async () => {
      const u = await downloadUrl();
      const sig = u.searchParams.get('s')!;
      const tampered = new URL(u);
      tampered.searchParams.set('s', `${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`);
      const otherName = new URL(u.href.replace('/a.jpg?', '/b.jpg?'));
      const otherBatch = new URL(u.href.replace('/b1/', '/b2/'));
      const otherWs = new URL(u.href.replace('/ws-a/', '/ws-b/'));
      const laterExpiry = new URL(u);
      laterExpiry.searchParams.set('e', String(Number(u.searchParams.get('e')) + 3600));
      for (const bad of [tampered, otherName, otherBatch, otherWs, laterExpiry]) {
        const res = await h.app.inject({ method: 'GET', url: pathOf(bad) });
        expect(res.statusCode, bad.href).toBe(403);
        expect(res.json().code).toBe('VB_ERR_BAD_SIGNATURE');
      }
    });

    it('refuses an expired URL with 403', async () => {
      const u = await downloadUrl();
      h.clock.t += h.config.api.downloadUrlTtlMs + 5_000;
      try {
        const res = await h.app.inject({ method: 'GET', url: pathOf(u) });
        expect(res.statusCode).toBe(403);
        expect(res.json().error).toMatch(/expired/);
      } finally {
        h.clock.t = Date.now();
      }
    });

    it('refuses the wrong method with 403, both ways', async () => {
      const u = await downloadUrl();
      const put = await h.app.inject({ method: 'PUT', url: pathOf(u), payload: Buffer.from('overwrite') });
      expect(put.statusCode).toBe(403);
      const details = await h.app.inject({
        method: 'POST',
        url: `${DS}/batches/v1/upload/video?api_key=key-a&fileName=clip.mp4`,
      });
      const up = new URL(details.json().signedURLDetails.uploadURL);
      const get = await h.app.inject({ method: 'GET', url: pathOf(up) });
      expect(get.statusCode).toBe(403);
      // and the download still serves the original bytes
      const again = await h.app.inject({ method: 'GET', url: pathOf(u) });
      expect(Buffer.compare(again.rawPayload, JPEG)).toBe(0);
    });

    it('a valid upload URL takes raw bytes of any content type and lists the file', async () => {
      const details = await h.app.inject({
        method: 'POST',
        url: `${DS}/batches/vids/upload/video?api_key=key-a&fileName=clip.mp4&displayName=V`,
      });
      expect(details.statusCode).toBe(200);
      const body = details.json();
      expect(body.signedURLDetails.extensionHeaders).toEqual({});
      const up = new URL(body.signedURLDetails.uploadURL);
      const video = Buffer.alloc(300_000, 3);
      const put = await h.app.inject({
        method: 'PUT',
        url: pathOf(up),
        payload: video,
        headers: { 'content-type': 'video/mp4' },
      });
      expect(put.statusCode).toBe(200);
      const list = await h.app.inject({ method: 'GET', url: `${DS}/batches/vids/list?api_key=key-a` });
      const file = list.json().filesMetadata[0];
      expect(file).toMatchObject({ fileName: 'clip.mp4', contentType: 'videos' });
      const got = await h.app.inject({ method: 'GET', url: pathOf(new URL(file.downloadURL)) });
      expect(Buffer.compare(got.rawPayload, video)).toBe(0);
      const expired = new URL(up);
      h.clock.t += h.config.api.uploadUrlTtlMs + 5_000;
      try {
        const late = await h.app.inject({ method: 'PUT', url: pathOf(expired), payload: video });
        expect(late.statusCode).toBe(403);
      } finally {
        h.clock.t = Date.now();
      }
    });
  });
}
