import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from './api-client.ts';
import { EXPORT_LOG, exportBatch } from './export-batch.ts';
import { type FakeApi, startFakeApi } from './fake-api.test-support.ts';

async function targz(members: Record<string, string>, extra: tar.Header[] = []): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-tgz-'));
  const file = path.join(dir, 'a.tar.gz');
  const pack = tar.pack();
  const done = pipeline(pack, createGzip(), createWriteStream(file));
  for (const [name, body] of Object.entries(members)) pack.entry({ name }, body);
  for (const h of extra) pack.entry(h);
  pack.finalize();
  await done;
  const buf = await readFile(file);
  await rm(dir, { recursive: true });
  return buf;
}

describe('exportBatch', () => {
  let api: FakeApi;
  let client: ApiClient;
  let target: string;
  const DS = '/data-staging/v1/external/demo/batches/job-1-export';
  const downloads = () => api.requests.filter((r) => r.path.startsWith('/files/')).length;

  beforeEach(async () => {
    api = await startFakeApi();
    client = new ApiClient({ baseUrl: api.url, apiKey: 'k', retryDelayMs: 10 });
    target = await mkdtemp(path.join(os.tmpdir(), 'vb-export-'));
    api.on('GET', DS, () => ({
      json: {
        batch: {
          batchId: 'job-1-export',
          displayName: 'x',
          batchType: 'multipart-batch',
          batchContentType: 'archives',
          createdDate: '2026-01-01T00:00:00.000Z',
          expiryDate: '2026-01-08T00:00:00.000Z',
        },
      },
    }));
    api.on('GET', `${DS}/parts`, () => ({
      json: {
        batchParts: [
          {
            partName: 'results',
            partType: 'simple-batch',
            contentType: 'archives',
            nestedContentType: 'metadata',
          },
          { partName: 'extra', partType: 'simple-batch', contentType: 'metadata' },
        ],
      },
    }));
    api.on('GET', `${DS}/count`, (r) => ({ json: { count: r.query.get('partName') === 'results' ? 2 : 1 } }));
    api.on('GET', `${DS}/list`, (r) => {
      const part = r.query.get('partName');
      if (part === 'extra') {
        return {
          json: {
            filesMetadata: [
              {
                downloadURL: `${api.url}/files/readme.txt`,
                fileName: 'readme.txt',
                partName: 'extra',
                contentType: 'metadata',
              },
            ],
            nextPageToken: null,
          },
        };
      }
      // Two pages, to check pagination.
      if (!r.query.get('nextPageToken')) {
        return {
          json: {
            filesMetadata: [
              {
                downloadURL: `${api.url}/files/a.tar.gz`,
                fileName: 'results-0.tar.gz',
                partName: 'results',
                contentType: 'archives',
              },
            ],
            nextPageToken: 'p2',
          },
        };
      }
      return {
        json: {
          filesMetadata: [
            {
              downloadURL: `${api.url}/files/b.tar.gz`,
              fileName: 'results-1.tar.gz',
              partName: 'results',
              contentType: 'archives',
            },
          ],
        },
      };
    });
    api.on('GET', '/files/readme.txt', () => ({ body: 'hello' }));
  });
  afterEach(async () => {
    await api.close();
    await rm(target, { recursive: true, force: true });
  });

  it('downloads every part, unpacks archives into the part folder, and resumes from the log', async () => {
    const a = await targz({ 'results_0.jsonl': '{"image":"a.jpg"}\n' });
    const b = await targz({ 'results_1.jsonl': '{"image":"b.jpg"}\n' });
    api.on('GET', '/files/a.tar.gz', (r) => {
      expect(r.query.get('api_key')).toBeNull();
      return { body: a };
    });
    api.on('GET', '/files/b.tar.gz', () => ({ body: b }));
    const s = await exportBatch(client, {
      batchId: 'job-1-export',
      targetDir: target,
      progress: { silent: true },
      log: () => {},
    });
    expect(s).toMatchObject({ listed: 3, downloaded: 3, archives: 2, extractedFiles: 2, skipped: 0 });
    expect((await readdir(path.join(target, 'results'))).sort()).toEqual([
      'results_0.jsonl',
      'results_1.jsonl',
    ]);
    expect(await readFile(path.join(target, 'extra', 'readme.txt'), 'utf8')).toBe('hello');
    expect((await readdir(target)).sort()).toEqual([EXPORT_LOG, 'extra', 'results']);
    const log = (await readFile(path.join(target, EXPORT_LOG), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log).toContainEqual({ file_name: 'results-0.tar.gz', part_name: 'results', shard_id: null });

    const before = downloads();
    const again = await exportBatch(client, {
      batchId: 'job-1-export',
      targetDir: target,
      progress: { silent: true },
      log: () => {},
    });
    expect(again).toMatchObject({ downloaded: 0, skipped: 3 });
    expect(downloads()).toBe(before);

    await rm(path.join(target, 'extra', 'readme.txt'));
    const third = await exportBatch(client, {
      batchId: 'job-1-export',
      targetDir: target,
      partNames: ['extra'],
      progress: { silent: true },
      log: () => {},
    });
    expect(third).toMatchObject({ downloaded: 1, skipped: 0 });

    const forced = await exportBatch(client, {
      batchId: 'job-1-export',
      targetDir: target,
      overrideExisting: true,
      progress: { silent: true },
      log: () => {},
    });
    expect(forced).toMatchObject({ downloaded: 3, skipped: 0 });
  });

  it('refuses a malicious archive and leaves nothing of it', async () => {
    const evil = await targz({ 'ok.jsonl': 'x', '../../escaped.txt': 'evil' });
    api.on('GET', '/files/a.tar.gz', () => ({ body: evil }));
    api.on('GET', '/files/b.tar.gz', () => ({ body: evil }));
    await expect(
      exportBatch(client, {
        batchId: 'job-1-export',
        targetDir: target,
        partNames: ['results'],
        progress: { silent: true },
        log: () => {},
      }),
    ).rejects.toThrow(/refusing to unpack .*"\.\.\/\.\.\/escaped\.txt" contains "\.\."/);
    expect(await readdir(path.join(target, 'results'))).toEqual([]);
    expect((await readdir(target)).filter((n) => n.startsWith('.export-tmp'))).toEqual([]);
  });

  it('refuses an unknown part and a path-like file name', async () => {
    await expect(
      exportBatch(client, {
        batchId: 'job-1-export',
        targetDir: target,
        partNames: ['nope'],
        progress: { silent: true },
      }),
    ).rejects.toThrow(/unknown part\(s\) nope/);
    api.on('GET', `${DS}/list`, () => ({
      json: {
        filesMetadata: [
          {
            downloadURL: `${api.url}/files/readme.txt`,
            fileName: '../x.txt',
            partName: 'extra',
            contentType: 'metadata',
          },
        ],
        nextPageToken: null,
      },
    }));
    await expect(
      exportBatch(client, {
        batchId: 'job-1-export',
        targetDir: target,
        partNames: ['extra'],
        progress: { silent: true },
      }),
    ).rejects.toThrow(/refusing file name/);
  });

  it('retries a failing download', async () => {
    let n = 0;
    api.on('GET', '/files/readme.txt', () =>
      ++n < 3 ? { status: 500, body: 'boom' } : { body: 'third time' },
    );
    await exportBatch(client, {
      batchId: 'job-1-export',
      targetDir: target,
      partNames: ['extra'],
      progress: { silent: true },
      log: () => {},
    });
    expect(await readFile(path.join(target, 'extra', 'readme.txt'), 'utf8')).toBe('third time');
    expect(n).toBe(3);
  });
});
