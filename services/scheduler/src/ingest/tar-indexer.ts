import path from 'node:path';
import type { BatchesRepo, FileRecord } from '@visionbatch/shared/batches-repo';
import { isSafeFileName } from '@visionbatch/shared/ids';
import { sniffImageFormat } from '@visionbatch/shared/image-sniff';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import type { Clock } from '@visionbatch/shared/time';
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

export interface ShardIndexResult {
  ingested: string[];
  failed: FailedFile[];
  notification: { ingestId?: string; notificationsURL?: string } | null;
}

/** Raised when the archive itself is unreadable (truncated, not a tar): the whole shard fails. */
export class BadArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadArchiveError';
  }
}

async function readAll(stream: AsyncIterable<Buffer>, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) over = true;
    else chunks.push(chunk as Buffer);
  }
  return over ? null : Buffer.concat(chunks);
}

/**
 * Indexes one uploaded tar shard, streaming: every regular file at the archive root with an
 * image extension and image content becomes a file of the batch; `notification_config.json` is
 * configuration; everything else is recorded as a failed file with a reason. Nothing is written
 * outside the batch's prefix (names are base names, links and devices are refused), and files
 * are listed only once the whole archive was read, so a truncated tar adds nothing.
 */
export async function indexShard(
  deps: { store: ObjectStore; batches: BatchesRepo; clock: Clock; maxImageBytes: number },
  ws: string,
  batchId: string,
  shardId: string,
): Promise<ShardIndexResult> {
  const body = await deps.store.get(objectKeys.shardTar(ws, batchId, shardId));
  const extract = tar.extract();
  const failed: FailedFile[] = [];
  const accepted: Array<{ name: string; rec: FileRecord }> = [];
  const seen = new Set<string>();
  let notification: ShardIndexResult['notification'] = null;
  let files = 0;
  const fail = (type: string, file_name: string, reason: string) => failed.push({ type, file_name, reason });

  const done = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', (err) => reject(new BadArchiveError(`unreadable tar: ${err.message}`)));
    body.on('error', (err) => reject(new BadArchiveError(`could not read the shard: ${err.message}`)));
  });
  extract.on('entry', (header, stream, next) => {
    const handle = async () => {
      const raw = header.name;
      const name = raw.replace(/^\.\//, '');
      if (header.type === 'directory') return stream.resume();
      if (header.type !== 'file' && header.type !== 'contiguous-file') {
        stream.resume();
        return fail('unsupported-entry', raw, `tar entry of type ${header.type} is not a regular file`);
      }
      if (!isSafeFileName(name)) {
        stream.resume();
        return fail(
          name.includes('..') || name.startsWith('/') ? 'unsafe-path' : 'nested-path',
          raw,
          'files must sit at the archive root under a plain name',
        );
      }
      if (name === NOTIFICATION_CONFIG) {
        const buf = await readAll(stream as unknown as AsyncIterable<Buffer>, 64 * 1024);
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
        stream.resume();
        return fail('shard-file-limit-exceeded', name, `a shard holds at most ${MAX_FILES_PER_SHARD} files`);
      }
      if ((header.size ?? 0) > deps.maxImageBytes) {
        stream.resume();
        return fail('file-size-limit-exceeded', name, `single image larger than ${deps.maxImageBytes} bytes`);
      }
      const ext = path.extname(name).slice(1).toLowerCase();
      const buf = await readAll(stream as unknown as AsyncIterable<Buffer>, deps.maxImageBytes);
      if (!buf)
        return fail('file-size-limit-exceeded', name, `single image larger than ${deps.maxImageBytes} bytes`);
      if (!IMAGE_EXTENSIONS.includes(ext) || !sniffImageFormat(buf.subarray(0, 16))) {
        return fail('not-an-image', name, 'not a recognised image (extension and content)');
      }
      if (seen.has(name) || (await deps.batches.hasFile(ws, batchId, '', name))) {
        return fail('duplicated-file-name', name, 'a file with this name is already in the batch');
      }
      seen.add(name);
      await deps.store.put(objectKeys.batchFile(ws, batchId, '', name), buf, {
        contentType: 'application/octet-stream',
      });
      accepted.push({ name, rec: { contentType: 'images', size: buf.length, shardId } });
    };
    handle().then(
      () => next(),
      (err) => {
        stream.resume();
        extract.destroy(err);
      },
    );
  });
  // Shards are uncompressed tars, as the Roboflow client writes them (spec §2.10).
  body.pipe(extract);
  try {
    await done;
  } catch (err) {
    // Nothing of a broken archive is listed; remove what was written.
    await Promise.all(
      accepted.map((a) => deps.store.delete(objectKeys.batchFile(ws, batchId, '', a.name)).catch(() => {})),
    );
    throw err;
  }
  for (const a of accepted) await deps.batches.putFile(ws, batchId, '', a.name, a.rec);
  return { ingested: accepted.map((a) => a.name), failed, notification };
}
