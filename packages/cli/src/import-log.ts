import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type ApiClient, ApiError } from './api-client.ts';
import { getBatch } from './batch-listing.ts';

/**
 * The upload resume log `<source dir>/.import_log-<batch_id>` (spec §6): one uploaded file name per
 * line, appended after each successful upload (single image, video or whole shard), so a re-run
 * skips what already landed.
 */
export function importLogPath(dir: string, batchId: string): string {
  return path.join(dir, `.import_log-${batchId}`);
}

/** Names recorded in the log (empty when there is none). */
export async function readImportLog(file: string): Promise<Set<string>> {
  try {
    const text = await readFile(file, 'utf8');
    return new Set(
      text
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => path.basename(l)),
    );
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw e;
  }
}

/** Records names as uploaded (one append, so concurrent writers never interleave within a line). */
export async function appendImportLog(file: string, names: readonly string[]): Promise<void> {
  if (names.length) await appendFile(file, names.map((n) => `${n}\n`).join(''));
}

/**
 * The names a re-run may skip: the resume log, trusted only while the server has the batch. A log
 * left by an upload to another server (another data dir, a fresh `visionbatch up`) or to a batch
 * that has expired since would otherwise skip every file and leave the batch empty.
 */
export async function uploadedBefore(
  client: ApiClient,
  file: string,
  batchId: string,
  log: (line: string) => void,
): Promise<Set<string>> {
  const names = await readImportLog(file);
  if (names.size === 0) return names;
  try {
    await getBatch(client, batchId);
    return names;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    log(
      `Notice: ${file} lists ${names.size} uploaded file(s), but batch ${batchId} does not exist here; uploading them again`,
    );
    return new Set();
  }
}
