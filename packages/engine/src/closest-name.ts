import { distance } from 'fastest-levenshtein';

/** Lower case without separators, so `iouThreshold`, `iou_threshold` and `iou-threshold` compare equal. */
const fold = (s: string) => s.toLowerCase().replace(/[_\-\s]/g, '');

/**
 * The candidate a misspelled or shortened name most likely meant, for "did you mean" hints; undefined
 * when none is close. A candidate that starts with the name or contains it (`iou` → `iou_threshold`)
 * beats edit distance; otherwise the edit distance must be at most a third of the name's length.
 */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const n = fold(name);
  if (n.length === 0) return undefined;
  let best: { candidate: string; score: number } | undefined;
  for (const candidate of candidates) {
    const c = fold(candidate);
    let score: number;
    if (c === n) score = 0;
    else if (n.length >= 2 && (c.startsWith(n) || n.startsWith(c))) score = 0.5;
    else if (n.length >= 3 && c.includes(n)) score = 0.75;
    else {
      const d = distance(n, c);
      if (d > Math.max(1, Math.floor(n.length / 3))) continue;
      score = d;
    }
    if (!best || score < best.score) best = { candidate, score };
  }
  return best?.candidate;
}
