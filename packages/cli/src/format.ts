/** Small text helpers for human-readable command output. */

/** Renders rows as left-aligned columns with a header line. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : (c ?? '').padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** `2026-08-21T10:15:30.123Z` → `2026-08-21 10:15:30Z`; other strings unchanged. */
export function shortTime(iso: string | undefined | null): string {
  if (!iso) return '-';
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso);
  return m ? `${m[1]} ${m[2]}Z` : iso;
}

/** Red text when writing to a terminal. */
export function red(s: string, tty = Boolean(process.stdout.isTTY)): string {
  return tty ? `\u001b[31m${s}\u001b[0m` : s;
}

/** A notification (object or string) as one line. */
export function notificationText(n: unknown): string {
  if (n === null || n === undefined || n === '') return '';
  return typeof n === 'string' ? n : JSON.stringify(n);
}

/** `62.5%` */
export function pct(fraction: number): string {
  return `${(Math.max(0, Math.min(1, fraction)) * 100).toFixed(1)}%`;
}
