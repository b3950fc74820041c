import path from 'node:path';
import { addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BatchesRepo, FileRecord } from '@visionbatch/shared/batches-repo';
import { DeadlineExceededError, withDeadline } from '@visionbatch/shared/deadline';
import { fileNameProblem } from '@visionbatch/shared/ids';
import { sniffImageFormat } from '@visionbatch/shared/image-sniff';
import { objectKeys } from '@visionbatch/shared/object-keys';
import {
  assertValidKey,
  InvalidObjectKeyError,
  type ObjectStore,
} from '@visionbatch/shared/object-store/index';
import { IMAGE_EXTENSIONS } from '@visionbatch/shared/wire/data-staging';
import tar from 'tar-stream';

/** Files a shard may hold (Roboflow's server limit, spec §2.10). */
export const MAX_FILES_PER_SHARD = 500;
export const NOTIFICATION_CONFIG = 'notification_config.json';

/** A file of a shard that was not ingested, with a stable reason code (spec §4.2). */
export interface FailedFile {
  type: string;
  file_name: string;
  reason: string;
}

/** The `notification_config.json` of a shard, when it had a readable one. */
export type ShardNotification = { ingestId?: string; notificationsURL?: string } | null;

/**
 * What indexing one shard came to: its files ingested (bad entries listed as failed files), or the
 * shard failed as a whole with a reason code (`invalid-archive`: not a readable tar, cut short;
 * `ingest-timeout`: past its deadline). Errors that another attempt may cure (the store or Redis
 * unreachable) are thrown instead.
 */
export type ShardIndexResult =
  | { outcome: 'ingested'; ingested: string[]; failed: FailedFile[]; notification: ShardNotification }
  | { outcome: 'failed'; error: { type: string; reason: string }; notification: ShardNotification };

export interface ShardIndexDeps {
  store: ObjectStore;
  batches: BatchesRepo;
  maxImageBytes: number;
  /** total deadline of each object-store call (open the tar, store one file) */
  storeCallMs: number;
  /** total deadline of the whole shard */
  shardIndexMs: number;
}

/** The archive itself is unreadable (truncated, not a tar): the whole shard fails, no retry. */
class BadArchiveError extends Error {}

/** One entry of the archive: its header and a stream of its bytes. */
type Entry = tar.ExtractEvents['entry'][1];

/** Reads an entry into memory, at most `limit` bytes (null past it); a broken archive is a BadArchiveError. */
async function readAll(entry: AsyncIterable<unknown>, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  try {
    for await (const chunk of entry) {
      size += (chunk as Buffer).length;
      if (size > limit) over = true;
      else chunks.push(chunk as Buffer);
    }
  } catch (err) {
    throw new BadArchiveError((err as Error).message);
  }
  return over ? null : Buffer.concat(chunks);
}

/** Why an object store would refuse `key`, or null when it is a valid key (the store's own rules). */
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
 * Indexes one uploaded tar shard, streaming: every regular file at the archive root with an
 * image extension and image content becomes a file of the batch; `notification_config.json` is
 * configuration; everything else (links, paths, names the object store refuses, oversize or
 * non-image files) is that file's failure, with a reason. Nothing is written outside the batch's
 * prefix, and files are listed only once the whole archive was read, so a truncated tar adds
 * nothing. A malformed archive never escapes as an error event: every entry stream is consumed
 * through tar-stream's iterator, which owns its error handling.
 */
export async function indexShard(
  deps: ShardIndexDeps,
  ws: string,
  batchId: string,
  shardId: string,
): Promise<ShardIndexResult> {
  const failed: FailedFile[] = [];
  const accepted: Array<{ name: string; rec: FileRecord }> = [];
  const seen = new Set<string>();
  let notification: ShardNotification = null;
  let files = 0;
  const fail = (type: string, file_name: string, reason: string): void => {
    failed.push({ type, file_name, reason });
  };
  const storeCall = <T>(what: string, fn: (signal: AbortSignal) => Promise<T>, parent: AbortSignal) =>
    withDeadline(what, deps.storeCallMs, fn, parent);

  async function indexEntry(entry: Entry, signal: AbortSignal): Promise<void> {
    const { header } = entry;
    const raw = header.name;
    const name = raw.replace(/^\.\//, '');
    const skip = (): void => {
      entry.resume();
    };
    if (header.type === 'directory') return skip();
    if (header.type !== 'file' && header.type !== 'contiguous-file') {
      skip();
      return fail('unsupported-entry', raw, `tar entry of type ${header.type} is not a regular file`);
    }
    if (name.includes('/') || name.includes('\\') || name === '..') {
      skip();
      return fail(
        name.includes('..') || name.startsWith('/') ? 'unsafe-path' : 'nested-path',
        raw,
        'files must sit at the archive root under a plain name',
      );
    }
    const badName = fileNameProblem(name);
    if (badName) {
      skip();
      return fail('invalid-file-name', raw, `the file name cannot be stored: it has ${badName}`);
    }
    if (name === NOTIFICATION_CONFIG) {
      const buf = await readAll(entry, 64 * 1024);
      try {
        const cfg = JSON.parse(buf?.toString('utf8') ?? '') as Record<string, unknown>;
        notification = {
          ...(typeof cfg.ingestId === 'string' ? { ingestId: cfg.ingestId } : {}),
          ...(typeof cfg.notificationsURL === 'string' ? { notificationsURL: cfg.notificationsURL } : {}),
        };
      } catch {
        fail('invalid-notification-config', raw, 'notification_config.json is not a JSON object');
      }
      return;
    }
    files++;
    if (files > MAX_FILES_PER_SHARD) {
      skip();
      return fail('shard-file-limit-exceeded', name, `a shard holds at most ${MAX_FILES_PER_SHARD} files`);
    }
    if ((header.size ?? 0) > deps.maxImageBytes) {
      skip();
      return fail('file-size-limit-exceeded', name, `single image larger than ${deps.maxImageBytes} bytes`);
    }
    const key = objectKeys.batchFile(ws, batchId, '', name);
    const badKey = keyProblem(key);
    if (badKey) {
      skip();
      return fail('invalid-file-name', name, `the file name cannot be stored: ${badKey}`);
    }
    const ext = path.extname(name).slice(1).toLowerCase();
    const buf = await readAll(entry, deps.maxImageBytes);
    if (!buf)
      return fail('file-size-limit-exceeded', name, `single image larger than ${deps.maxImageBytes} bytes`);
    if (!IMAGE_EXTENSIONS.includes(ext) || !sniffImageFormat(buf.subarray(0, 16))) {
      return fail('not-an-image', name, 'not a recognised image (extension and content)');
    }
    if (seen.has(name) || (await deps.batches.hasFile(ws, batchId, '', name))) {
      return fail('duplicated-file-name', name, 'a file with this name is already in the batch');
    }
    seen.add(name);
    try {
      await storeCall(
        `storing ${name}`,
        () => deps.store.put(key, buf, { contentType: 'application/octet-stream' }),
        signal,
      );
    } catch (err) {
      // e.g. the fs driver's `a` vs `a/b` collision: this file's failure, not the shard's
      if (err instanceof InvalidObjectKeyError)
        return fail('invalid-file-name', name, `the file name cannot be stored: ${err.reason}`);
      throw err;
    }
    // Past the deadline the shard is being cleaned up already: this late object goes with it.
    if (signal.aborted) {
      await deps.store.delete(key).catch(() => {});
      throw signal.reason;
    }
    accepted.push({ name, rec: { contentType: 'images', size: buf.length, shardId } });
  }

  const shardDeadline = `indexing shard ${shardId}`;
  const readShard = async (signal: AbortSignal): Promise<void> => {
    const body = await storeCall(
      'opening the shard',
      () => deps.store.get(objectKeys.shardTar(ws, batchId, shardId)),
      signal,
    );
    let readError: Error | null = null;
    body.on('error', (err) => {
      readError ??= err;
    });
    addAbortSignal(signal, body);
    const extract = tar.extract();
    // Shards are uncompressed tars, as the Roboflow client writes them (spec §2.10). The pipeline's
    // outcome reaches us through the iterator; this only keeps its rejection from going unhandled.
    const fed = pipeline(body, extract).catch(() => {});
    // Why the bytes stopped, when it was not the archive: the deadline, or the store (retryable).
    const notTheArchive = () => (signal.aborted ? signal.reason : readError);
    const entries = extract[Symbol.asyncIterator]();
    for (;;) {
      let step: IteratorResult<Entry>;
      try {
        step = await entries.next();
      } catch (err) {
        throw notTheArchive() ?? new BadArchiveError((err as Error).message);
      }
      if (step.done) break;
      try {
        await indexEntry(step.value, signal);
      } catch (err) {
        await entries.return?.();
        throw (err instanceof BadArchiveError && notTheArchive()) || err;
      }
    }
    await fed;
  };

  try {
    await withDeadline(shardDeadline, deps.shardIndexMs, readShard);
  } catch (err) {
    // Nothing of a shard that did not finish is listed; remove what was written.
    await Promise.all(
      accepted.map((a) => deps.store.delete(objectKeys.batchFile(ws, batchId, '', a.name)).catch(() => {})),
    );
    if (err instanceof BadArchiveError) {
      const reason = `unreadable tar: ${err.message}`;
      return { outcome: 'failed', error: { type: 'invalid-archive', reason }, notification };
    }
    if (err instanceof DeadlineExceededError && err.what === shardDeadline)
      return { outcome: 'failed', error: { type: 'ingest-timeout', reason: err.message }, notification };
    throw err;
  }
  await deps.batches.putFiles(ws, batchId, '', accepted);
  return { outcome: 'ingested', ingested: accepted.map((a) => a.name), failed, notification };
}
