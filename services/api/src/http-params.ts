import { Errors } from '@visionbatch/shared/errors';

/** Page size from the query: default when absent, clamped to 1..max (spec §5.3: clamp, do not reject). */
export function pageSizeOf(query: Record<string, unknown>, dflt: number, max = 1000): number {
  const v = query.pageSize;
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
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

export function pageToken(query: Record<string, unknown>): string | null {
  return optString(query, 'nextPageToken', 2048) ?? null;
}

/** Largest offset a page token may carry (far beyond any list; bounds the work a token can ask for). */
const MAX_OFFSET = 1_000_000_000;

/** An offset page token (lists paged by position): absent → 0; anything but a small non-negative integer → 400. */
export function offsetToken(query: Record<string, unknown>): number {
  const t = pageToken(query);
  if (t === null) return 0;
  if (!/^\d{1,10}$/.test(t) || Number(t) > MAX_OFFSET)
    throw Errors.validation('nextPageToken', 'is not a page token this list handed out');
  return Number(t);
}
