/** Redis stream ids (`<ms>-<seq>`): order and parsing. */

/** Negative, zero or positive as stream id `a` is before, equal to or after `b`. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const dm = Number(am) - Number(bm);
  if (dm !== 0) return dm;
  return Number(as ?? 0) - Number(bs ?? 0);
}

/** The earlier of two stream ids. */
export const minStreamId = (a: string, b: string): string => (compareStreamIds(a, b) <= 0 ? a : b);
