import { readdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { VideoProbe } from '@visionbatch/shared/batches-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { createMetricsRegistry } from '@visionbatch/shared/metrics';
import type { ObjectStore, ObjectStoreConfig } from '@visionbatch/shared/object-store/index';
import { INGEST_QUEUE, QUEUE_PREFIX, type ShardIngestJob } from '@visionbatch/shared/queues';
import { WorkspaceWebhookSecrets } from '@visionbatch/shared/webhook-auth';
import { Queue } from 'bullmq';
import { Counter } from 'prom-client';
import tar from 'tar-stream';
import { expect } from 'vitest';
import { startIngestWorker } from '../../services/scheduler/src/ingest/ingest-worker.ts';
import { Notifier } from '../../services/scheduler/src/notifier.ts';
import { startReferenceIngestWorker } from '../../services/scheduler/src/reference-ingest.ts';
import { type Resolver, UrlAllowlist } from '../../services/scheduler/src/ssrf-guard.ts';
import { type AppHarness, startApiHarness } from '../api/app-harness.ts';
import { waitFor } from '../support/helpers.ts';

export const silentLogger = createLogger('staging-test', 'silent');

/** Smallest bytes our sniffer accepts as a JPEG / PNG. */
export const jpeg = (fill = 7, size = 2048) =>
  Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(size, fill)]);
export const png = () =>
  Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(512, 1)]);

export type TarEntry =
  | { name: string; body: Buffer | string; type?: 'file' }
  | { name: string; type: 'symlink' | 'link'; linkname: string }
  | { name: string; type: 'directory' };

/** Builds a tar in memory with tar-stream (any names and entry types, malicious ones included). */
export async function buildTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    if (e.type === 'symlink' || e.type === 'link')
      pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
    else if ('body' in e)
      pack.entry({ name: e.name }, typeof e.body === 'string' ? Buffer.from(e.body) : e.body);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * A poison shard: a tar whose last entry's header declares `declaredBytes` while the archive ends
 * after `carriedBytes` of its data (no end-of-archive blocks), as a hostile or cut-short upload;
 * `before` are well-formed entries ahead of it. The header is a real ustar header with the size
 * field rewritten and the checksum recomputed.
 */
export async function poisonTar(
  name: string,
  declaredBytes: number,
  carriedBytes = 4096,
  before: TarEntry[] = [],
): Promise<Buffer> {
  const whole = await buildTar([...before, { name, body: Buffer.alloc(carriedBytes, 0x5a) }]);
  // the poisoned header follows the earlier entries (their tar without its two end blocks)
  const at = before.length ? (await buildTar(before)).length - 1024 : 0;
  const header = Buffer.from(whole.subarray(at, at + 512));
  header.write(`${declaredBytes.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
  header.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return Buffer.concat([whole.subarray(0, at), header, whole.subarray(at + 512, at + 512 + carriedBytes)]);
}

export const pathOf = (u: string) => {
  const url = new URL(u);
  return url.pathname + url.search;
};

/**
 * The client's bulk path against the in-process api: empty-body POST for an upload URL, PUT of the
 * tar with exactly `extensionHeaders`, then the scheduler's indexer run in-process (the harness only
 * records the enqueue). Returns the shard id.
 */
export async function uploadShard(
  h: AppHarness,
  ds: string,
  batchId: string,
  tarBytes: Buffer,
  displayName = batchId,
): Promise<string> {
  const res = await h.app.inject({
    method: 'POST',
    url: `${ds}/batches/${batchId}/bulk-upload/image-files?api_key=key-a&displayName=${encodeURIComponent(displayName)}`,
  });
  expect(res.statusCode, res.body).toBe(200);
  const { uploadURL, extensionHeaders } = res.json().signedURLDetails;
  const put = await h.app.inject({
    method: 'PUT',
    url: pathOf(uploadURL),
    payload: tarBytes,
    headers: extensionHeaders,
  });
  expect(put.statusCode, put.body).toBe(200);
  const job = h.shardsEnqueued.at(-1)!;
  expect(job.batchId).toBe(batchId);
  return job.shardId;
}

/** Waits until a shard is indexed or failed; returns its wire record from `GET .../shards`. */
export async function waitShard(
  h: AppHarness,
  ds: string,
  batchId: string,
  shardId: string,
): Promise<Record<string, any>> {
  let found: Record<string, any> | undefined;
  await waitFor(
    async () => {
      const res = await h.app.inject({
        method: 'GET',
        url: `${ds}/batches/${batchId}/shards?api_key=key-a&pageSize=1000`,
      });
      found = (res.json().shards as Array<Record<string, any>>).find((s) => s.shardId === shardId);
      return found?.statusName === 'shard-ingested' || found?.statusName === 'shard-ingest-failed';
    },
    { timeoutMs: 20_000, intervalMs: 50, message: `shard ${shardId} indexed` },
  );
  return found!;
}

export interface StagingHarness extends AppHarness {
  /** Stops the tar-shard worker, the reference worker and the notifier. */
  stopIngest(): Promise<void>;
  /** (Re)starts the reference-ingest worker with this allowlist (and DNS answers, for tests). */
  startReferences(opts: {
    allow?: string[];
    resolve?: Resolver;
    concurrency?: number;
    probeVideo?: (file: string) => Promise<VideoProbe>;
    /** another store than the api's (e.g. one that fails) */
    store?: ObjectStore;
  }): Promise<void>;
  /** The webhook secrets the ingest workers sign with (the scheduler's). */
  webhookAuth: WorkspaceWebhookSecrets;
}

/**
 * The in-process api plus the scheduler's real ingest worker and notifier on the same Redis:
 * a PUT of a tar shard enqueues a BullMQ job exactly as services/api/src/main.ts does, and the
 * worker indexes it as the scheduler would.
 */
export async function startStagingHarness(opts: {
  redisUrl: string;
  store: ObjectStoreConfig;
  env?: Record<string, string>;
}): Promise<StagingHarness> {
  const h = await startApiHarness(opts);
  const queue = new Queue<ShardIngestJob>(INGEST_QUEUE, { connection: h.redis, prefix: QUEUE_PREFIX });
  h.deps.enqueueShard = async (workspace, batchId, shardId) => {
    h.shardsEnqueued.push({ workspace, batchId, shardId });
    await queue.add(
      'shard',
      { workspace, batchId, shardId },
      {
        jobId: `shard-${workspace}-${batchId}-${shardId}`,
        attempts: 2,
        backoff: { type: 'fixed', delay: 100 },
      },
    );
  };
  const metrics = createMetricsRegistry('staging-test');
  const webhookAuth = new WorkspaceWebhookSecrets(h.redis, h.config.scheduler.publishableKeys);
  const deadlines = h.config.scheduler.deadlines;
  const notifier = new Notifier(
    h.redis,
    silentLogger,
    new Counter({ name: 'vb_t_deliveries', help: 'x', labelNames: ['outcome'], registers: [metrics] }),
    // the receivers of these tests listen on loopback
    new UrlAllowlist(['127.0.0.1']),
  );
  notifier.start();
  const worker = startIngestWorker({
    connection: h.redis,
    store: h.store,
    batches: h.deps.batches,
    notifier,
    clock: h.clock,
    logger: silentLogger,
    maxImageBytes: h.config.limits.maxImageBytes,
    webhookAuth,
    deadlines,
    indexedFiles: new Counter({
      name: 'vb_t_indexed',
      help: 'x',
      labelNames: ['outcome'],
      registers: [metrics],
    }),
  });
  let refWorker: Awaited<ReturnType<typeof startReferenceIngestWorker>> | null = null;
  const startReferences: StagingHarness['startReferences'] = async (o) => {
    await refWorker?.close();
    refWorker = startReferenceIngestWorker({
      connection: h.redis,
      store: o.store ?? h.store,
      batches: h.deps.batches,
      notifier,
      clock: h.clock,
      logger: silentLogger,
      allow: new UrlAllowlist(o.allow ?? []),
      concurrency: o.concurrency ?? 4,
      maxImageBytes: h.config.limits.maxImageBytes,
      maxVideoBytes: h.config.api.maxUploadBytes,
      webhookAuth,
      deadlines,
      probeVideo: o.probeVideo,
      resolve: o.resolve,
      retryDelayMs: 20,
    });
  };
  let stopped = false;
  const stopIngest = async () => {
    if (stopped) return;
    stopped = true;
    await refWorker?.close();
    await worker.close();
    await notifier.close();
    await queue.close();
  };
  const close = h.close;
  return Object.assign(h, {
    stopIngest,
    startReferences,
    webhookAuth,
    close: async () => {
      await stopIngest();
      await close();
    },
  });
}

/** Every key under `root` of the fs store, relative, sorted (to prove nothing landed elsewhere). */
export async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(root, p));
    }
  };
  await walk(root);
  return out.sort();
}

/** A webhook receiver on 127.0.0.1 that records every body and its `Authorization` (answers 200). */
export async function startReceiver(): Promise<{
  url: string;
  bodies: Array<Record<string, any>>;
  requests: Array<{ authorization: string | undefined; body: Record<string, any> }>;
  close(): Promise<void>;
}> {
  const bodies: Array<Record<string, any>> = [];
  const requests: Array<{ authorization: string | undefined; body: Record<string, any> }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      bodies.push(body);
      requests.push({ authorization: req.headers.authorization, body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    bodies,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
