/**
 * Minimum-cost linear assignment (the Hungarian method in its shortest-augmenting-path form, as
 * Jonker and Volgenant describe it), plus the thresholded matching trackers use.
 *
 * Written here rather than taken from npm: the packages found are unmaintained or solve only
 * square matrices, and trackers need the "match only below a cost limit" variant, which is a
 * small transformation of the plain problem (see {@link matchBelow}).
 */

/**
 * Assigns every row of an `n × m` cost matrix (`n ≤ m`) to a distinct column with the least total
 * cost. Returns, per row, its column. O(n²·m).
 */
function assignRows(cost: readonly (readonly number[])[], n: number, m: number): number[] {
  // 1-based potentials u (rows) and v (columns); colRow[j] = row matched to column j (0: none)
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const colRow = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  const minSlack = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    // grow an alternating tree from row i until it reaches a free column (Dijkstra on reduced costs)
    colRow[0] = i;
    let j0 = 0;
    minSlack.fill(Number.POSITIVE_INFINITY);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = colRow[j0];
      let delta = Number.POSITIVE_INFINITY;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const reduced = cost[i0 - 1][j - 1] - u[i0] - v[j];
        if (reduced < minSlack[j]) {
          minSlack[j] = reduced;
          way[j] = j0;
        }
        if (minSlack[j] < delta) {
          delta = minSlack[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[colRow[j]] += delta;
          v[j] -= delta;
        } else minSlack[j] -= delta;
      }
      j0 = j1;
    } while (colRow[j0] !== 0);
    // flip the augmenting path back to the root
    do {
      const j1 = way[j0];
      colRow[j0] = colRow[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowCol = new Array<number>(n).fill(-1);
  for (let j = 1; j <= m; j++) if (colRow[j] !== 0) rowCol[colRow[j] - 1] = j - 1;
  return rowCol;
}

/**
 * Minimum-cost assignment of a rectangular matrix: as many pairs as the smaller side, each row and
 * column used at most once. Returns `[row, column]` pairs in row order. Costs must be finite.
 */
export function linearAssignment(cost: readonly (readonly number[])[]): Array<[number, number]> {
  const rows = cost.length;
  const cols = rows === 0 ? 0 : cost[0].length;
  if (rows === 0 || cols === 0) return [];
  if (rows <= cols) return assignRows(cost, rows, cols).map((c, r) => [r, c]);
  const transposed = Array.from({ length: cols }, (_, j) => cost.map((row) => row[j]));
  const pairs = assignRows(transposed, cols, rows).map((r, c): [number, number] => [r, c]);
  return pairs.sort((a, b) => a[0] - b[0]);
}

/** Matched pairs and what was left on each side. */
export interface Matching {
  matches: Array<[number, number]>;
  unmatchedRows: number[];
  unmatchedCols: number[];
}

/**
 * Matches rows to columns where a pair costs less than `limit`, minimising the total of
 * `cost − limit` over the chosen pairs: leaving a row and a column unmatched costs `limit`, so a
 * pair is only taken when it beats that (the `lapjv` "cost_limit" problem trackers solve).
 *
 * Solved as a plain assignment of `min(cost − limit, 0)`: pairs at or above the limit cost
 * nothing, like being unmatched, and are dropped afterwards. `cols` is needed when there are no
 * rows (every column is then unmatched).
 */
export function matchBelow(
  cost: readonly (readonly number[])[],
  limit: number,
  cols: number = cost[0]?.length ?? 0,
): Matching {
  const rows = cost.length;
  const clipped = cost.map((row) => row.map((c) => Math.min(c - limit, 0)));
  const matches = linearAssignment(clipped).filter(([r, c]) => cost[r][c] < limit);
  const rowUsed = new Set(matches.map(([r]) => r));
  const colUsed = new Set(matches.map(([, c]) => c));
  return {
    matches,
    unmatchedRows: Array.from({ length: rows }, (_, i) => i).filter((i) => !rowUsed.has(i)),
    unmatchedCols: Array.from({ length: cols }, (_, j) => j).filter((j) => !colUsed.has(j)),
  };
}
