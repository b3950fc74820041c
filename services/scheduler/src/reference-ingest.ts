import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { addAbortSignal } from 'node:stream';
import { FfmpegFrameSource } from '@visionbatch/engine/video/frame-source';
import type { BatchesRepo, ShardRecord, VideoProbe } from '@visionbatch/shared/batches-repo';
import type { IngestDeadlines } from '@visionbatch/shared/config';
import { DeadlineExceededError, withDeadline } from '@visionbatch/shared/deadline';
import { isSafeFileName } from '@visionbatch/shared/ids';
import { sniffImageFormat } from '@visionbatch/shared/image-sniff';
import type { Logger } from '@visionbatch/shared/logger';
import { objectKeys } from '@visionbatch/shared/object-keys';
import {
  assertValidKey,
  InvalidObjectKeyError,
  type ObjectStore,
} from '@visionbatch/shared/object-store/index';
import {
  type FileReference,
  QUEUE_PREFIX,
  REFERENCE_INGEST_QUEUE,
  REFERENCE_SHARD_SIZE,
  type ReferenceIngestJob,
  referenceShardId,
} from '@visionbatch/shared/queues';
import { type Clock, iso } from '@visionbatch/shared/time';
import type { WebhookAuth } from '@visionbatch/shared/webhook-auth';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { filesStatusNotification } from './ingest/files-status.ts';
import type { FailedFile } from './ingest/tar-indexer.ts';
import type { Notifier } from './notifier.ts';
import {
  DownloadError,
  type FetchOptions,
  guardedFetch,
  guardedFetchToFile,
  type Resolver,
  UnsafeUrlError,
  type UrlAllowlist,
} from './ssrf-guard.ts';

/** Size limit of a JSONL references file and of each referenced image (spec §5.2: 20 MiB). */
export const REFERENCES_FILE_MAX_BYTES = 20 * 1024 * 1024;
/** Most references a JSONL file may hold. */
export const MAX_REFERENCES = 20_000;
const ATTEMPTS = 3;
/** ffprobe reads a local file; this only bounds a pathological container. */
const PROBE_DEADLINE_MS = 60_000;

export interface ReferenceIngestDeps {
  connection: Redis;
  store: ObjectStore;
  batches: BatchesRepo;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  allow: UrlAllowlist;
  concurrency: number;
  maxImageBytes: number;
  /** largest referenced video (VB_MAX_UPLOAD_BYTES, as a video uploaded by signed URL) */
  maxVideoBytes: number;
  webhookAuth: WebhookAuth;
  deadlines: Pick<IngestDeadlines, 'downloadMs' | 'dnsMs' | 'storeCallMs'>;
  /** Probes a local video file (default: ffprobe). */
  probeVideo?: (file: string) => Promise<VideoProbe>;
  /** For tests: DNS answers (the default resolves with the system resolver). */
  resolve?: Resolver;
  /** Pause between download attempts, ms (doubled each time). */
  retryDelayMs?: number;
}

/** Why a whole ingest failed (ingest-status `error_details`). */
class IngestFailure extends Error {
  constructor(
    readonly type: string,
    reason: string,
  ) {
    super(reason);
  }
}

/** Parses a JSONL references file: one `{"name","url"}` object per non-empty line. */
export function parseReferencesJsonl(text: string): FileReference[] {
  const out: FileReference[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new IngestFailure('invalid-references-file', `line ${i + 1} is not valid JSON`);
    }
    const o = v as Record<string, unknown>;
    if (
      !o ||
      typeof o !== 'object' ||
      Array.isArray(o) ||
      typeof o.name !== 'string' ||
      typeof o.url !== 'string'
    ) {
      throw new IngestFailure(
        'invalid-references-file',
        `line ${i + 1} is not an object with string "name" and "url"`,
      );
    }
    out.push({ name: o.name, url: o.url });
    if (out.length > MAX_REFERENCES)
      throw new IngestFailure('invalid-references-file', `more than ${MAX_REFERENCES} references`);
  }
  if (out.length === 0)
    throw new IngestFailure('invalid-references-file', 'the references file holds no references');
  return out;
}

/**
 * Runs `fn` over `items` with at most `n` in flight. The first error stops the runners from
 * taking further items (none keeps working for an attempt that already failed) and is thrown.
 */
async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (!failed && next < items.length) {
        try {
          await fn(items[next++]);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    }),
  );
}

/** Why an object store would refuse `key`, or null when it is valid (the store's own rules). */
function keyProblem(key: string): string | null {
  try {
    assertValidKey(key);
    return null;
  } catch (err) {
    if (err instanceof InvalidObjectKeyError) return err.reason;
    throw err;
  }
}

/**
 * Downloads reference ingests in the background (one BullMQ job per ingest, so a restart resumes
 * it: finished shards are skipped, files already stored by the same shard are kept). Every URL
 * goes through the SSRF guard; refusals are failed files of type `unsafe-url-detected`. Each
 * download has a total deadline. A bad reference (refused, unreachable, too slow, a name the
 * store refuses, a video ffprobe cannot read) is that file's failure; only errors of our own
 * infrastructure (Redis, the store) fail the attempt, which BullMQ retries a bounded number of times.
 * Images are held in memory (at most VB_MAX_IMAGE_BYTES each); videos stream to a temp file, are
 * probed there once and streamed to the store, so memory stays bounded whatever their size.
 */
export function startReferenceIngestWorker(d: ReferenceIngestDeps): Worker<ReferenceIngestJob> {
  const retryDelay = d.retryDelayMs ?? 500;
  const probeVideo = d.probeVideo ?? ((file: string) => new FfmpegFrameSource().probe(file));
  const fetchOptions = (maxBytes: number): FetchOptions => ({
    allow: d.allow,
    maxBytes,
    resolve: d.resolve,
    deadlineMs: d.deadlines.downloadMs,
    dnsTimeoutMs: d.deadlines.dnsMs,
  });

  /** Runs a download, retrying transient failures (network, 5xx) with back-off. */
  async function withRetries<T>(attemptOnce: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await attemptOnce();
      } catch (err) {
        if (err instanceof DownloadError && err.retryable && attempt < ATTEMPTS) {
          await new Promise((r) => setTimeout(r, retryDelay * 2 ** (attempt - 1)));
          continue;
        }
        throw err;
      }
    }
  }

  const download = (url: string, maxBytes: number) =>
    withRetries(() => guardedFetch(url, fetchOptions(maxBytes)));

  async function notify(
    job: ReferenceIngestJob,
    shardId: string | null,
    notification: Record<string, unknown>,
    dedupe: string,
  ): Promise<void> {
    if (!job.notificationsURL) return;
    await d.notifier.send(
      job.notificationsURL,
      await d.webhookAuth.authorizationFor(job.workspace),
      {
        type: 'roboflow-data-staging-notification-v1',
        ingest_id: job.ingestId,
        batch_id: job.batchId,
        shard_id: shardId,
        notification,
      },
      dedupe,
    );
  }

  /**
   * Downloads one video to a temp file, probes it there and streams it into the store. Returns the
   * file record, or the failure of this file.
   */
  async function ingestVideo(
    url: string,
    key: string,
  ): Promise<{ size: number; video: VideoProbe } | { type: string; reason: string }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-ref-video-'));
    try {
      const local = path.join(dir, 'video');
      const size = await withRetries(() => guardedFetchToFile(url, local, fetchOptions(d.maxVideoBytes)));
      let video: VideoProbe;
      try {
        const info = await withDeadline('probing the video', PROBE_DEADLINE_MS, () => probeVideo(local));
        video = {
          width: info.width,
          height: info.height,
          fps: info.fps,
          frameCount: info.frameCount,
          durationSec: info.durationSec,
        };
      } catch (err) {
        return { type: 'not-a-video', reason: `not a readable video: ${(err as Error).message}` };
      }
      // A streamed put of a whole video: the download deadline bounds it, not the per-call one.
      await withDeadline(`storing a ${size}-byte video`, d.deadlines.downloadMs, (signal) =>
        d.store.put(key, addAbortSignal(signal, createReadStream(local)), {
          contentType: 'application/octet-stream',
          size,
        }),
      );
      return { size, video };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async function ingestFiles(
    job: ReferenceIngestJob,
    refs: FileReference[],
    shardId: string | undefined,
  ): Promise<{ ingested: string[]; failed: FailedFile[] }> {
    const { workspace: ws, batchId } = job;
    const ingested: string[] = [];
    const failed: FailedFile[] = [];
    const seen = new Set<string>();
    await pool(refs, d.concurrency, async (ref) => {
      const fail = (type: string, reason: string) => failed.push({ type, file_name: ref.name, reason });
      if (!isSafeFileName(ref.name))
        return fail('invalid-file-name', 'names must be plain file names without path separators');
      const key = objectKeys.batchFile(ws, batchId, '', ref.name);
      const badKey = keyProblem(key);
      if (badKey) return fail('invalid-file-name', `the file name cannot be stored: ${badKey}`);
      if (seen.has(ref.name))
        return fail('duplicated-file-name', 'a file with this name is already in the ingest');
      seen.add(ref.name);
      const existing = await d.batches.getFile(ws, batchId, '', ref.name);
      if (existing) {
        // a restarted ingest finds its own files again; anything else is a real duplicate
        if (shardId && existing.shardId === shardId) return void ingested.push(ref.name);
        return fail('duplicated-file-name', 'a file with this name is already in the batch');
      }
      const maxBytes = job.kind === 'images' ? d.maxImageBytes : d.maxVideoBytes;
      let rec: { size: number; video?: VideoProbe };
      try {
        if (job.kind === 'videos') {
          const r = await ingestVideo(ref.url, key);
          if ('type' in r) return fail(r.type, r.reason);
          rec = r;
        } else {
          const buf = await download(ref.url, maxBytes);
          if (!sniffImageFormat(buf.subarray(0, 16))) return fail('not-an-image', 'not a recognised image');
          await withDeadline(`storing ${ref.name}`, d.deadlines.storeCallMs, () =>
            d.store.put(key, buf, { contentType: 'application/octet-stream' }),
          );
          rec = { size: buf.length };
        }
      } catch (err) {
        if (err instanceof UnsafeUrlError) return fail('unsafe-url-detected', err.message);
        if (err instanceof DownloadError && err.tooLarge)
          return fail('file-size-limit-exceeded', `single file larger than ${maxBytes} bytes`);
        if (err instanceof DownloadError) return fail('download-failed', err.message);
        if (err instanceof DeadlineExceededError && err.what.startsWith('download'))
          return fail('download-failed', err.message);
        if (err instanceof InvalidObjectKeyError)
          return fail('invalid-file-name', `the file name cannot be stored: ${err.reason}`);
        // the store or Redis: the whole attempt fails and is retried
        throw err;
      }
      await d.batches.putFile(ws, batchId, '', ref.name, {
        contentType: job.kind,
        ...rec,
        ...(shardId ? { shardId } : {}),
      });
      ingested.push(ref.name);
    });
    return { ingested, failed };
  }

  async function run(job: ReferenceIngestJob): Promise<void> {
    const { workspace: ws, batchId } = job;
    const wantFiles = job.categories.includes('files-status');
    const wantStatus = job.categories.includes('ingest-status');
    let refs = job.references;
    if (!refs) {
      let text: Buffer;
      try {
        text = await download(job.referencesURL ?? '', REFERENCES_FILE_MAX_BYTES);
      } catch (err) {
        if (err instanceof UnsafeUrlError) throw new IngestFailure('unsafe-url-detected', err.message);
        throw new IngestFailure('references-file-download-failed', (err as Error).message);
      }
      refs = parseReferencesJsonl(text.toString('utf8'));
    }
    let total = 0;
    const failedTypes = new Map<string, FailedFile>();
    if (job.kind === 'videos') {
      const r = await ingestFiles(job, refs, undefined);
      total += r.ingested.length;
      for (const f of r.failed) if (!failedTypes.has(f.type)) failedTypes.set(f.type, f);
      if (wantFiles) {
        await notify(
          job,
          null,
          filesStatusNotification({ processed: true, ingested: r.ingested, failed: r.failed }),
          `ref-files-${ws}-${batchId}-${job.digest}`,
        );
      }
    } else {
      for (let i = 0; i * REFERENCE_SHARD_SIZE < refs.length; i++) {
        const shardId = referenceShardId(job.digest, i);
        const slice = refs.slice(i * REFERENCE_SHARD_SIZE, (i + 1) * REFERENCE_SHARD_SIZE);
        let shard = await d.batches.getShard(ws, batchId, shardId);
        if (shard?.statusName === 'shard-ingested') {
          total += shard.shardObjectsCount;
          continue;
        }
        if (!shard) {
          const now = d.clock.now();
          shard = {
            shardId,
            statusName: 'shard-uploaded',
            statusType: 'info',
            eventTimestamp: iso(now),
            shardObjectsCount: 0,
            registeredAt: now,
          };
          await d.batches.putShard(ws, batchId, shard);
        }
        const r = await ingestFiles(job, slice, shardId);
        total += r.ingested.length;
        for (const f of r.failed) if (!failedTypes.has(f.type)) failedTypes.set(f.type, f);
        const done: ShardRecord = {
          ...shard,
          statusName: 'shard-ingested',
          statusType: 'success',
          eventTimestamp: iso(d.clock.now()),
          shardObjectsCount: r.ingested.length,
          statusMetadata: {
            ingestId: job.ingestId,
            failedFilesCount: r.failed.length,
            failedFiles: r.failed.slice(0, 100),
          },
        };
        await d.batches.putShard(ws, batchId, done);
        if (wantFiles)
          await notify(
            job,
            shardId,
            filesStatusNotification({ processed: true, ingested: r.ingested, failed: r.failed }),
            `ref-files-${ws}-${batchId}-${shardId}`,
          );
      }
    }
    if (wantStatus) {
      // The ingest as a whole failed when nothing could be ingested; the reason is the first failure.
      const first = [...failedTypes.values()][0];
      const success = total > 0 || !first;
      await notify(
        job,
        null,
        {
          type: 'ingest-status-notification-v1',
          success,
          ...(success
            ? {}
            : { error_details: { type: first.type, reason: `${first.file_name}: ${first.reason}` } }),
        },
        `ref-status-${ws}-${batchId}-${job.digest}`,
      );
    }
    d.logger.info(
      { workspace: ws, batchId, ingestId: job.ingestId, ingested: total },
      'reference ingest finished',
    );
  }

  const worker = new Worker<ReferenceIngestJob>(
    REFERENCE_INGEST_QUEUE,
    async (bull) => {
      const job = bull.data;
      try {
        await run(job);
      } catch (caught) {
        // Infrastructure errors (Redis, the store) are retried; on the last attempt the ingest
        // fails as a whole, with a reason, rather than silently.
        const lastAttempt = bull.attemptsMade + 1 >= (bull.opts.attempts ?? 1);
        if (!(caught instanceof IngestFailure) && !lastAttempt) throw caught;
        const err =
          caught instanceof IngestFailure
            ? caught
            : new IngestFailure(
                'ingest-error',
                `the ingest could not finish after ${bull.attemptsMade + 1} attempts: ${(caught as Error).message}`,
              );
        d.logger.warn(
          { batchId: job.batchId, ingestId: job.ingestId, type: err.type, reason: err.message },
          'reference ingest failed',
        );
        await d.batches.setIngestFailure(job.workspace, job.batchId, job.digest, {
          type: err.type,
          reason: err.message,
        });
        if (job.categories.includes('ingest-status')) {
          await notify(
            job,
            null,
            {
              type: 'ingest-status-notification-v1',
              success: false,
              error_details: { type: err.type, reason: err.message },
            },
            `ref-status-${job.workspace}-${job.batchId}-${job.digest}`,
          );
        }
      }
    },
    { connection: d.connection, prefix: QUEUE_PREFIX, concurrency: 2 },
  );
  worker.on('failed', (job, err) =>
    d.logger.warn({ ingestId: job?.data.ingestId, err: err.message }, 'reference ingest attempt failed'),
  );
  worker.on('error', (err) => d.logger.error({ err }, 'reference ingest worker error'));
  return worker;
}
