import { Errors } from './errors.ts';

/** Offset tokens have at most 15 digits: exact as JS numbers and as Redis 64-bit offsets, with room for a page. */
const OFFSET_TOKEN_RE = /^\d{1,15}$/;

/**
 * The list offset an offset-style page token carries (list batches, jobs, shards, logs): absent →
 * 0; anything but a non-negative integer of up to 15 digits is a 400 naming `nextPageToken`, so no
 * negative, fractional or out-of-range offset ever reaches Redis or a paging loop.
 */
export function offsetFromToken(token: string | null | undefined): number {
  if (token === null || token === undefined || token === '') return 0;
  if (!OFFSET_TOKEN_RE.test(token))
    throw Errors.validation('nextPageToken', 'not a page token of this list (a non-negative integer)');
  return Number(token);
}
