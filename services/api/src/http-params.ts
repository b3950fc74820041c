import { Errors } from '@visionbatch/shared/errors';
import { isSafeFileName, SAFE_ID_RE } from '@visionbatch/shared/ids';
import { offsetFromToken } from '@visionbatch/shared/page-token';

/** Page size from the query: default when absent, clamped to 1..max (spec §5.3: clamp, do not reject). */
export function pageSizeOf(query: Record<string, unknown>, dflt: number, max = 1000): number {
  const v = query.pageSize;
  if (v === undefined || v === '') return dflt;
  const n = typeof v === 'string' ? Number(v) : Number.NaN;
  if (!Number.isFinite(n) || !Number.isInteger(n)) throw Errors.validation('pageSize', 'must be an integer');
  return Math.min(Math.max(n, 1), max);
}

/** An optional string query parameter, length-bounded. */
export function optString(query: Record<string, unknown>, name: string, maxLen = 1024): string | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw Errors.validation(name, 'must be a single string');
  if (v.length > maxLen) throw Errors.validation(name, `longer than ${maxLen} characters`);
  return v;
}

/**
 * The page token of an offset-paged list (batches, jobs, shards, logs): absent, or the
 * non-negative integer a previous page returned (else 400 naming `nextPageToken`).
 */
export function offsetPageToken(query: Record<string, unknown>): string | null {
  const token = optString(query, 'nextPageToken', 64) ?? null;
  offsetFromToken(token);
  return token;
}

/** The page token of a batch's file list: the last file name of the previous page. */
export function fileNamePageToken(query: Record<string, unknown>): string | null {
  const token = optString(query, 'nextPageToken', 1024) ?? null;
  if (token !== null && !isSafeFileName(token))
    throw Errors.validation('nextPageToken', 'not a page token of this list (a file name)');
  return token;
}

/** The page token of a stage's task list: the last task id of the previous page. */
export function taskPageToken(query: Record<string, unknown>): string | null {
  const token = optString(query, 'nextPageToken', 128) ?? null;
  if (token !== null && !SAFE_ID_RE.test(token))
    throw Errors.validation('nextPageToken', 'not a page token of this list (a task id)');
  return token;
}
