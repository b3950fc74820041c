/** Number rules shared by decoding and serialisation (Python semantics, spec §5.5). */

/** Python's `round(x)`: nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Python's `round(x, 4)`. `toFixed` rounds the exact binary value; a tie would need x·10⁴ to end
 * in exactly .5, which no binary double does, so this equals Python's correctly-rounded result.
 */
export function round4(x: number): number {
  return Number(x.toFixed(4));
}

/** `min(max(x, lo), hi)` */
export function clamp(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}
