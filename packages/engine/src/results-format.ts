/**
 * Aggregated results files (spec/workflows.md §3.8, §3.9): one row per image, sorted by image
 * name, with the `image` key appended last; JSONL or CSV, written the way the inference CLI writes
 * them (Python `json.dumps` defaults: `", "` / `": "` separators, ASCII-escaped strings).
 *
 * Known difference: JavaScript numbers do not remember whether they were floats, so an
 * integer-valued float prints as `320` where Python prints `320.0`; non-finite numbers print as
 * `null` (Python would write the non-JSON `NaN`).
 */

export const DEDUCTED_IMAGE = '<deducted_image>';

export type AggregationFormat = 'jsonl' | 'csv';

/** One image's result. */
export interface ResultRow {
  /** staged file name */
  image: string;
  /** the serialised result dict of that image */
  result: Record<string, unknown>;
  /**
   * Keys appended after the outputs instead of `image` (video rows: `video`, `frame_number`,
   * `frame_timestamp`, a visionbatch extension, spec/workflows.md §3.9).
   */
  trailing?: Record<string, unknown>;
  /** order of the row in its file when not the image name (video rows: name + padded frame) */
  sortKey?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Replaces image objects (`{"type": "base64", "value": ...}`) anywhere in a value by `"<deducted_image>"`. */
export function deductImages(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(deductImages);
  if (isObj(v)) {
    if (v.type === 'base64' && 'value' in v) return DEDUCTED_IMAGE;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = deductImages(x);
    return out;
  }
  return v;
}

/** Python's `repr(float)` / `str(int)` for a JavaScript number. */
export function pythonNumber(n: number): string {
  if (!Number.isFinite(n)) return 'null';
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return Object.is(n, -0) ? '0' : String(n);
  // shortest round-trip digits, then Python's layout: fixed for 1e-4 <= |x| < 1e16, else d.dde±XX
  const [mantissa, expPart] = n.toExponential().split('e');
  const exp = Number(expPart);
  // JavaScript prints fixed notation for 1e-6 <= |x| < 1e21; Python for 1e-4 <= |x| < 1e16
  if (exp >= -4 && exp < 16) return String(n);
  const sign = exp < 0 ? '-' : '+';
  const digits = String(Math.abs(exp)).padStart(2, '0');
  return `${mantissa}e${sign}${digits}`;
}

/** A JSON string literal with every character outside printable ASCII escaped, as Python's `ensure_ascii`. */
function pythonString(s: string): string {
  return JSON.stringify(s).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** `json.dumps(value)` with Python's default separators and ASCII escaping. */
export function pythonJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return pythonNumber(v);
  if (typeof v === 'string') return pythonString(v);
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return `[${v.map(pythonJson).join(', ')}]`;
  if (v instanceof Date) return pythonString(v.toISOString());
  if (isObj(v)) {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v))
      if (x !== undefined) parts.push(`${pythonString(k)}: ${pythonJson(x)}`);
    return `{${parts.join(', ')}}`;
  }
  return pythonString(String(v));
}

/** Python's string ordering (by code point; JavaScript's default compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) as number;
    const cy = y.value.codePointAt(0) as number;
    if (cx !== cy) return cx - cy;
  }
}

/** Row dicts in file order: sorted by image name, `image` appended (or overwritten in place). */
export function rowDicts(rows: readonly ResultRow[]): Array<Record<string, unknown>> {
  return [...rows]
    .sort((a, b) => compareCodePoints(a.sortKey ?? a.image, b.sortKey ?? b.image))
    .map((r) => ({
      ...(deductImages(r.result) as Record<string, unknown>),
      ...(r.trailing ?? { image: r.image }),
    }));
}

/** JSONL: one `json.dumps` line per row, each ending in `\n`. */
export function toJsonl(rows: readonly ResultRow[]): string {
  return rowDicts(rows)
    .map((r) => `${pythonJson(r)}\n`)
    .join('');
}

function csvCell(v: unknown): string {
  let s: string;
  if (v === null || v === undefined) s = '';
  else if (typeof v === 'boolean') s = v ? 'True' : 'False';
  else if (typeof v === 'number') s = pythonNumber(v);
  else if (typeof v === 'string') s = v;
  else s = pythonJson(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * CSV: header = union of keys in first-seen order; lists/dicts as JSON text; booleans
 * `True`/`False`; null as an empty cell; minimal quoting; `\n` line ends; no index column.
 */
export function toCsv(rows: readonly ResultRow[]): string {
  const dicts = rowDicts(rows);
  if (dicts.length === 0) return '';
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const d of dicts) {
    for (const k of Object.keys(d)) {
      if (!seen.has(k)) {
        seen.add(k);
        columns.push(k);
      }
    }
  }
  const lines = [columns.map(csvCell).join(',')];
  for (const d of dicts) lines.push(columns.map((c) => csvCell(d[c])).join(','));
  return `${lines.join('\n')}\n`;
}

/** The results file of a task in the job's format. */
export function aggregateResults(
  rows: readonly ResultRow[],
  format: AggregationFormat,
): { body: Buffer; contentType: string } {
  if (format === 'csv') return { body: Buffer.from(toCsv(rows), 'utf8'), contentType: 'text/csv' };
  return { body: Buffer.from(toJsonl(rows), 'utf8'), contentType: 'application/jsonl' };
}
