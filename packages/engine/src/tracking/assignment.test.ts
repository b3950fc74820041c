import { describe, expect, it } from 'vitest';
import { linearAssignment, matchBelow } from './assignment.ts';

/** Brute force over every injective mapping of the smaller side. */
function bestCost(cost: number[][]): number {
  const rows = cost.length;
  const cols = cost[0].length;
  const t = rows <= cols ? cost : cost[0].map((_, j) => cost.map((r) => r[j]));
  const n = Math.min(rows, cols);
  const m = Math.max(rows, cols);
  let best = Number.POSITIVE_INFINITY;
  const used = new Array<boolean>(m).fill(false);
  const go = (i: number, acc: number) => {
    if (i === n) {
      best = Math.min(best, acc);
      return;
    }
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = true;
      go(i + 1, acc + t[i][j]);
      used[j] = false;
    }
  };
  go(0, 0);
  return best;
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('linearAssignment', () => {
  it('finds the optimum of a classic 3×3 matrix', () => {
    const pairs = linearAssignment([
      [4, 1, 3],
      [2, 0, 5],
      [3, 2, 2],
    ]);
    expect(pairs).toEqual([
      [0, 1],
      [1, 0],
      [2, 2],
    ]);
  });

  it('matches brute force on random square and rectangular matrices', () => {
    const r = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const rows = 1 + Math.floor(r() * 6);
      const cols = 1 + Math.floor(r() * 6);
      const cost = Array.from({ length: rows }, () => Array.from({ length: cols }, () => r() * 10 - 3));
      const pairs = linearAssignment(cost);
      expect(pairs).toHaveLength(Math.min(rows, cols));
      expect(new Set(pairs.map((p) => p[0])).size).toBe(pairs.length);
      expect(new Set(pairs.map((p) => p[1])).size).toBe(pairs.length);
      const total = pairs.reduce((a, [i, j]) => a + cost[i][j], 0);
      expect(total).toBeCloseTo(bestCost(cost), 9);
    }
  });

  it('handles empty matrices', () => {
    expect(linearAssignment([])).toEqual([]);
    expect(linearAssignment([[], []])).toEqual([]);
  });
});

describe('matchBelow', () => {
  it('leaves pairs at or above the limit unmatched', () => {
    const m = matchBelow(
      [
        [0.1, 0.9],
        [0.95, 0.85],
      ],
      0.8,
    );
    expect(m.matches).toEqual([[0, 0]]);
    expect(m.unmatchedRows).toEqual([1]);
    expect(m.unmatchedCols).toEqual([1]);
  });

  it('prefers one very good pair over two mediocre ones (total of cost − limit)', () => {
    // two pairs at 0.7 save 2 × 0.1; the single 0.05 pair saves 0.75
    const m = matchBelow(
      [
        [0.05, 0.7],
        [0.7, 0.99],
      ],
      0.8,
    );
    expect(m.matches).toEqual([[0, 0]]);
  });

  it('reports every row and column when nothing can match', () => {
    expect(matchBelow([], 0.5)).toEqual({ matches: [], unmatchedRows: [], unmatchedCols: [] });
    expect(matchBelow([], 0.5, 2)).toEqual({ matches: [], unmatchedRows: [], unmatchedCols: [0, 1] });
    expect(matchBelow([[], []], 0.5)).toEqual({ matches: [], unmatchedRows: [0, 1], unmatchedCols: [] });
    expect(matchBelow([[0.9, 0.6]], 0.5)).toEqual({
      matches: [],
      unmatchedRows: [0],
      unmatchedCols: [0, 1],
    });
  });
});
