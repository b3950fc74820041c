import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';

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
