/**
 * Tar-shard ingest throughput with real processes (api + scheduler over a private redis-server and
 * the fs store): `apiMBps` is how fast the api takes shard PUTs (8 in parallel, as the Roboflow CLI
 * uploads), `indexFilesPerSec` how fast the scheduler indexes them once started.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
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
  describe: `Tar-shard ingest through real api + scheduler processes: ${FILES} images of ~${Math.round(FILE_BYTES / 1024)} KB in shards of ${PER_SHARD}, ${PARALLEL} PUTs in parallel. apiMBps = tar MB/s accepted by the api (scheduler stopped, so uploads only); indexFilesPerSec = files/s indexed by the scheduler afterwards (fs store).`,
  async run() {
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
  },
};
