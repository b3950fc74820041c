import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { IMAGE_EXTENSIONS, VIDEO_EXTENSIONS } from '@visionbatch/shared/wire/data-staging';
import { CliError } from './cli-error.ts';

/** Whether `name`'s extension is one of `exts` (lower case, no dot), compared case-insensitively. */
export function hasExtension(name: string, exts: readonly string[]): boolean {
  const ext = path.extname(name).slice(1).toLowerCase();
  return ext !== '' && exts.includes(ext);
}

/**
 * Regular files at the top level of `dir` (no recursion, like the Roboflow CLI) whose extension is
 * in `exts`, sorted by name so shard contents are reproducible.
 */
export async function listFilesByExtension(dir: string, exts: readonly string[]): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new CliError(`cannot read directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.') && hasExtension(e.name, exts))
    .map((e) => e.name)
    .sort();
}

/** Image file names at the top level of `dir`. */
export const listImages = (dir: string) => listFilesByExtension(dir, IMAGE_EXTENSIONS);
/** Video file names at the top level of `dir`. */
export const listVideos = (dir: string) => listFilesByExtension(dir, VIDEO_EXTENSIONS);

/**
 * Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first error after
 * the calls in flight have settled (no new ones start after a failure).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed: { error: unknown } | null = null;
  const runner = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (e) {
        failed ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, runner));
  if (failed) throw (failed as { error: unknown }).error;
  return results;
}
