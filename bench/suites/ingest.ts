/**
 * Ingest with real processes (api + scheduler over a private redis-server and the fs store).
 * Part `tar`: tar-shard throughput: `apiMBps` is how fast the api takes shard PUTs (8 in parallel,
 * as the Roboflow CLI uploads), `indexFilesPerSec` how fast the scheduler indexes them once started.
 * Part `video-ref`: `videoRefPeakRssMiB`, the scheduler's peak resident memory while it ingests a
 * 1 GiB video reference served by a local HTTP server (bounded: the video streams to a temp file).
 * `VB_BENCH_INGEST_PARTS=tar,video-ref` picks parts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ApiClient, exportBatch } from '@visionbatch/cli';
import tar from 'tar-stream';
import { tempDir, waitFor } from '../../test/support/basics.ts';
import { BenchStack, startRedis } from '../support.ts';
import type { Suite } from './index.ts';

const FILES = Number(process.env.VB_BENCH_INGEST_FILES ?? 10_000);
const FILE_BYTES = Number(process.env.VB_BENCH_INGEST_FILE_BYTES ?? 100 * 1024);
/** Files per shard: the Roboflow client's MAX_SHARD_SIZE. */
const PER_SHARD = 256;
const PARALLEL = 8;
const PARTS = (process.env.VB_BENCH_INGEST_PARTS ?? 'tar,video-ref').split(',').map((p) => p.trim());
/** Size of the referenced video of part `video-ref`. */
const VIDEO_REF_BYTES = Number(process.env.VB_BENCH_VIDEO_REF_BYTES ?? 1024 ** 3);

const round = (x: number, d = 2) => Number(x.toFixed(d));

/** The bytes of image i: a JPEG signature, then a fill that differs between neighbours. */
function fileBody(i: number): Buffer {
  const body = Buffer.allocUnsafe(FILE_BYTES);
  body.fill(i & 255);
  body.set([0xff, 0xd8, 0xff, 0xe0], 0);
  body.writeUInt32BE(i, 4);
  return body;
}

async function buildShard(file: string, first: number, count: number): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (let i = first; i < first + count; i++) {
    pack.entry({ name: `img-${String(i).padStart(6, '0')}.jpg` }, fileBody(i));
  }
  pack.finalize();
  await done;
  await writeFile(file, Buffer.concat(chunks));
}

export const ingestSuite: Suite = {
  describe: `Ingest through real api + scheduler processes. Tar shards: ${FILES} images of ~${Math.round(FILE_BYTES / 1024)} KB in shards of ${PER_SHARD}, ${PARALLEL} PUTs in parallel; apiMBps = tar MB/s accepted by the api (scheduler stopped, so uploads only); indexFilesPerSec = files/s indexed by the scheduler afterwards (fs store). videoRefPeakRssMiB = the scheduler's peak RSS (VmHWM) over a ${Math.round(VIDEO_REF_BYTES / 1024 ** 2)} MiB video-reference ingest from a local HTTP server (a sparse file, not decodable: it ends as the file's not-a-video failure after the whole download).`,
  async run() {
    const out: Record<string, unknown> = {};
    if (PARTS.includes('tar')) Object.assign(out, await tarIngest());
    if (PARTS.includes('video-ref')) Object.assign(out, await videoRefIngest());
    return out;
  },
};

async function tarIngest(): Promise<Record<string, unknown>> {
  const dir = await tempDir('vb-bench-ingest-');
  const redis = await startRedis(dir);
  const stack = await BenchStack.create(redis.url, path.join(dir, 'data'));
  try {
    const tars = path.join(dir, 'tars');
    await mkdir(tars);
    const shards: string[] = [];
    for (let first = 0; first < FILES; first += PER_SHARD) {
      const f = path.join(tars, `${first}.tar`);
      await buildShard(f, first, Math.min(PER_SHARD, FILES - first));
      shards.push(f);
    }
    let tarBytes = 0;
    for (const s of shards) tarBytes += (await stat(s)).size;

    await stack.start('api');
    const DS = `/data-staging/v1/external/${stack.workspace}`;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < shards.length) {
          const file = shards[next++];
          const reg = await stack.call(
            'POST',
            `${DS}/batches/bench-ingest/bulk-upload/image-files?displayName=bench`,
          );
          if (reg.status !== 200) throw new Error(`shard URL: ${reg.status} ${JSON.stringify(reg.json)}`);
          const { uploadURL, extensionHeaders } = reg.json.signedURLDetails;
          const res = await fetch(uploadURL, {
            method: 'PUT',
            headers: { ...extensionHeaders, 'content-length': String((await stat(file)).size) },
            body: Readable.toWeb(createReadStream(file)) as unknown as RequestInit['body'],
            duplex: 'half',
          } as RequestInit);
          if (res.status !== 200) throw new Error(`PUT: ${res.status} ${await res.text()}`);
        }
      }),
    );
    const uploadSeconds = (performance.now() - t0) / 1000;

    const count = async () =>
      (await stack.call('GET', `${DS}/batches/bench-ingest/count`)).json.count as number;
    await stack.start('scheduler');
    const t1 = performance.now();
    const atStart = await count();
    await waitFor(async () => (await count()) >= FILES, {
      timeoutMs: 30 * 60_000,
      intervalMs: 200,
      message: `${FILES} files indexed`,
    });
    const indexSeconds = (performance.now() - t1) / 1000;

    // Every page of the listing, then an export with the CLI: all names unique, bytes identical.
    const names = new Set<string>();
    let token: string | null = null;
    let pages = 0;
    do {
      const q: string = token ? `?nextPageToken=${encodeURIComponent(token)}` : '';
      const page = await stack.call('GET', `${DS}/batches/bench-ingest/list${q}`);
      for (const f of page.json.filesMetadata as Array<{ fileName: string }>) names.add(f.fileName);
      token = page.json.nextPageToken;
      pages++;
    } while (token);
    const exportDir = path.join(dir, 'export');
    const t2 = performance.now();
    await exportBatch(new ApiClient({ baseUrl: stack.apiUrl, apiKey: stack.apiKey }), {
      batchId: 'bench-ingest',
      targetDir: exportDir,
      progress: { silent: true },
      log: () => {},
    });
    const exportSeconds = (performance.now() - t2) / 1000;
    let identical = 0;
    for (let i = 0; i < FILES; i++) {
      const got = await readFile(path.join(exportDir, `img-${String(i).padStart(6, '0')}.jpg`)).catch(
        () => null,
      );
      if (
        got &&
        createHash('sha256').update(got).digest('hex') ===
          createHash('sha256').update(fileBody(i)).digest('hex')
      )
        identical++;
    }
    if (names.size !== FILES || identical !== FILES) {
      throw new Error(
        `ingest verification failed: ${names.size} unique names listed, ${identical} of ${FILES} exported files identical`,
      );
    }
    return {
      files: FILES,
      fileBytes: FILE_BYTES,
      shards: shards.length,
      tarMB: round(tarBytes / 1e6, 1),
      uploadSeconds: round(uploadSeconds),
      apiMBps: round(tarBytes / 1e6 / uploadSeconds, 1),
      indexSeconds: round(indexSeconds),
      indexFilesPerSec: round((FILES - atStart) / indexSeconds, 0),
      indexedBeforeTimerStarted: atStart,
      verified: {
        count: await count(),
        listPages: pages,
        uniqueNamesListed: names.size,
        exportedByteIdentical: identical,
        exportSeconds: round(exportSeconds),
      },
    };
  } finally {
    await stack.stop();
    redis.proc.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

/** Peak and current resident memory of a process, MiB (Linux /proc). */
async function rssMiB(pid: number): Promise<{ peak: number; now: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peak: round(kb('VmHWM') / 1024, 1), now: round(kb('VmRSS') / 1024, 1) };
}

async function videoRefIngest(): Promise<Record<string, unknown>> {
  const dir = await tempDir('vb-bench-video-ref-');
  const redis = await startRedis(dir);
  const stack = await BenchStack.create(redis.url, path.join(dir, 'data'));
  const video = path.join(dir, 'big.mp4');
  // A sparse file: no disk blocks, no memory; served as VIDEO_REF_BYTES of zeros.
  const handle = await open(video, 'w');
  await handle.truncate(VIDEO_REF_BYTES);
  await handle.close();
  let served = 0;
  const files = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(VIDEO_REF_BYTES) });
    const body = createReadStream(video);
    body.on('data', (c) => {
      served += c.length;
    });
    body.pipe(res);
  });
  const events: Array<Record<string, any>> = [];
  const hooks = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      events.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200).end();
    });
  });
  for (const s of [files, hooks]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s: http.Server) => (s.address() as AddressInfo).port;
  try {
    await stack.start('api');
    await stack.start('scheduler', { VB_URL_ALLOWLIST: '127.0.0.1' });
    const scheduler = stack.procs.at(-1)!;
    const before = await rssMiB(scheduler.pid!);
    const t0 = performance.now();
    const res = await stack.call(
      'POST',
      `/data-staging/v1/external/${stack.workspace}/batches/bench-video-ref/bulk-upload/video-references`,
      {
        videoReferences: [{ name: 'big.mp4', url: `http://127.0.0.1:${port(files)}/big.mp4` }],
        ingestId: 'bench-video-ref',
        notificationsURL: `http://127.0.0.1:${port(hooks)}/hook`,
        notificationCategories: ['files-status'],
      },
    );
    if (res.status !== 200) throw new Error(`video references: ${res.status} ${JSON.stringify(res.json)}`);
    await waitFor(() => events.length > 0, {
      timeoutMs: 30 * 60_000,
      intervalMs: 200,
      message: 'files-status',
    });
    const seconds = (performance.now() - t0) / 1000;
    const after = await rssMiB(scheduler.pid!);
    const failed = events[0].notification.failed_files as Array<{ type: string }>;
    if (served !== VIDEO_REF_BYTES || failed[0]?.type !== 'not-a-video')
      throw new Error(
        `video-ref verification failed: ${served} of ${VIDEO_REF_BYTES} bytes served, failed files ${JSON.stringify(failed)}`,
      );
    return {
      videoRefBytes: VIDEO_REF_BYTES,
      videoRefPeakRssMiB: after.peak,
      videoRefRssBeforeMiB: before.now,
      videoRefPeakRssBeforeMiB: before.peak,
      videoRefSeconds: round(seconds),
      videoRefMBps: round(VIDEO_REF_BYTES / 1e6 / seconds, 1),
      videoRefOutcome: failed[0].type,
    };
  } finally {
    await stack.stop();
    redis.proc.kill('SIGTERM');
    for (const s of [files, hooks]) s.closeAllConnections();
    await Promise.all([files, hooks].map((s) => new Promise((r) => s.close(r))));
    await rm(dir, { recursive: true, force: true });
  }
}
