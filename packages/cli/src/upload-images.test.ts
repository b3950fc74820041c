import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from './api-client.ts';
import { type FakeApi, startFakeApi } from './fake-api.test-support.ts';
import { createBatchOfImages } from './upload-images.ts';

async function tarMembers(buf: Buffer): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ex = tar.extract();
  Readable.from([buf]).pipe(ex as unknown as NodeJS.WritableStream);
  for await (const entry of ex) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out.set(entry.header.name, Buffer.concat(chunks).toString());
  }
  return out;
}

async function imagesDir(n: number, extra: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-imgs-'));
  for (let i = 0; i < n; i++)
    await writeFile(
      path.join(dir, `img-${String(i).padStart(3, '0')}.${i % 2 ? 'JPG' : 'png'}`),
      `image ${i}`,
    );
  for (const [name, body] of Object.entries(extra)) await writeFile(path.join(dir, name), body);
  return dir;
}

describe('createBatchOfImages', () => {
  let api: FakeApi;
  let client: ApiClient;
  const DS = '/data-staging/v1/external/demo/batches/b1';
  beforeEach(async () => {
    api = await startFakeApi();
    client = new ApiClient({ baseUrl: api.url, apiKey: 'k', retryDelayMs: 10 });
  });
  afterEach(() => api.close());

  it('uploads ≤ 32 images one by one as multipart with the file name as field name, then resumes', async () => {
    const dir = await imagesDir(5, { 'notes.txt': 'not an image', '.hidden.jpg': 'x' });
    api.on('POST', `${DS}/upload/image`, () => ({ json: { status: 'ok' } }));
    const r = await createBatchOfImages(client, {
      batchId: 'b1',
      imagesDir: dir,
      batchName: 'My batch',
      progress: { silent: true },
      log: () => {},
    });
    expect(r).toMatchObject({ mode: 'single', uploaded: 5, total: 5 });
    const uploads = api.requests.filter((q) => q.path.endsWith('/upload/image'));
    expect(uploads).toHaveLength(5);
    const u = uploads.find((q) => q.query.get('fileName') === 'img-001.JPG')!;
    expect(u.query.get('displayName')).toBe('My batch');
    expect(u.query.get('api_key')).toBe('k');
    expect(u.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const text = u.body.toString('latin1');
    expect(text).toContain('Content-Disposition: form-data; name="img-001.JPG"; filename="img-001.JPG"');
    expect(text).toContain('image 1');
    expect((text.match(/Content-Disposition/g) ?? []).length).toBe(1);
    expect((await readFile(path.join(dir, '.import_log-b1'), 'utf8')).trim().split('\n').sort()).toHaveLength(
      5,
    );

    // The server has the batch: the resume log is trusted.
    api.on('GET', DS, () => ({ json: { batch: { batchId: 'b1' } } }));
    const again = await createBatchOfImages(client, {
      batchId: 'b1',
      imagesDir: dir,
      progress: { silent: true },
      log: () => {},
    });
    expect(again).toMatchObject({ uploaded: 0, skipped: 5 });
    expect(api.requests.filter((q) => q.path.endsWith('/upload/image'))).toHaveLength(5);
  });

  it('uploads again what a resume log lists when the server has no such batch (another stack, expired)', async () => {
    const dir = await imagesDir(3, { '.import_log-b1': 'img-000.png\nimg-001.JPG\nimg-002.png\n' });
    api.on('POST', `${DS}/upload/image`, () => ({ json: { status: 'ok' } }));
    const notes: string[] = [];
    const r = await createBatchOfImages(client, {
      batchId: 'b1',
      imagesDir: dir,
      progress: { silent: true },
      log: (l) => notes.push(l),
    });
    expect(r).toMatchObject({ uploaded: 3, skipped: 0 });
    expect(notes.join('\n')).toContain(
      'lists 3 uploaded file(s), but batch b1 does not exist here; uploading them again',
    );
  });

  it('uploads > 32 images as tar shards of ≤ 256 through signed URLs', async () => {
    const dir = await imagesDir(300);
    let n = 0;
    api.on('POST', `${DS}/bulk-upload/image-files`, (q) => {
      expect(q.body.length).toBe(0);
      expect(q.query.get('displayName')).toBe('b1');
      n++;
      return {
        json: {
          signedURLDetails: {
            uploadURL: `${api.url}/signed/shard-${n}?sig=abc`,
            extensionHeaders: { 'x-vb-shard': `s${n}` },
          },
        },
      };
    });
    for (const i of [1, 2]) api.on('PUT', `/signed/shard-${i}`, () => ({ json: {} }));
    const r = await createBatchOfImages(client, {
      batchId: 'b1',
      imagesDir: dir,
      notificationsUrl: 'https://hooks.example.com/x',
      ingestId: 'ing-1',
      progress: { silent: true },
      log: () => {},
    });
    expect(r).toMatchObject({ mode: 'shards', uploaded: 300, shards: 2 });
    const puts = api.requests.filter((q) => q.method === 'PUT');
    expect(puts).toHaveLength(2);
    const sizes: number[] = [];
    const all = new Set<string>();
    for (const p of puts) {
      expect(p.query.get('api_key')).toBeNull();
      expect(p.query.get('sig')).toBe('abc');
      expect(p.headers['x-vb-shard']).toMatch(/^s[12]$/);
      expect(Number(p.headers['content-length'])).toBe(p.body.length);
      const members = await tarMembers(p.body);
      expect(JSON.parse(members.get('notification_config.json')!)).toEqual({
        ingestId: 'ing-1',
        notificationsURL: 'https://hooks.example.com/x',
      });
      members.delete('notification_config.json');
      for (const [name, body] of members) {
        expect(name).not.toContain('/');
        expect(body).toBe(`image ${Number(name.slice(4, 7))}`);
        all.add(name);
      }
      sizes.push(members.size);
    }
    expect(sizes.sort((a, b) => a - b)).toEqual([44, 256]);
    expect(all.size).toBe(300);
  });

  it('fails when a signed PUT fails, and logs only completed shards', async () => {
    const dir = await imagesDir(40);
    api.on('POST', `${DS}/bulk-upload/image-files`, () => ({
      json: { signedURLDetails: { uploadURL: `${api.url}/signed/x`, extensionHeaders: {} } },
    }));
    api.on('PUT', '/signed/x', () => ({ status: 403, json: { error: 'signed URL refused: expired' } }));
    await expect(
      createBatchOfImages(client, {
        batchId: 'b1',
        imagesDir: dir,
        progress: { silent: true },
        log: () => {},
      }),
    ).rejects.toThrow(/HTTP 403: signed URL refused: expired/);
    await expect(readFile(path.join(dir, '.import_log-b1'), 'utf8')).rejects.toThrow();
  });
});
