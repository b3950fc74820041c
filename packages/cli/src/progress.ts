import cliProgress from 'cli-progress';

/** A progress display for one activity. */
export interface Progress {
  /** Adds `n` (default 1) to the current value. */
  increment(n?: number): void;
  /** Sets the current value (and optionally the total and a short status text). */
  update(value: number, opts?: { total?: number; status?: string }): void;
  /** Final render; the display is unusable afterwards. */
  stop(): void;
}

export interface ProgressOptions {
  /** Where to draw. @default process.stderr */
  stream?: NodeJS.WriteStream;
  /** Draw an animated bar; otherwise print plain lines. @default stream.isTTY */
  tty?: boolean;
  /** Plain mode: at most one line per this many ms (plus the final one). @default 2000 */
  plainIntervalMs?: number;
  /** Draw nothing (tests, `--quiet`). */
  silent?: boolean;
}

/**
 * A progress bar on stderr (cli-progress) when it is a terminal; plain `label: 12/40 (30%)` lines
 * otherwise, so logs of non-interactive runs stay readable.
 */
export function createProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  if (opts.silent) return { increment() {}, update() {}, stop() {} };
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} {status}`,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(total, 0), 0, { status: '' });
    return {
      increment: (n = 1) => bar.increment(n),
      update: (value, o = {}) => {
        if (o.total !== undefined) bar.setTotal(o.total);
        bar.update(value, { status: o.status ?? '' });
      },
      stop: () => bar.stop(),
    };
  }
  const interval = opts.plainIntervalMs ?? 2000;
  let value = 0;
  let status = '';
  let last = '';
  let lastAt = 0;
  const render = (force: boolean) => {
    const pct = total > 0 ? Math.floor((100 * value) / total) : 100;
    const line = `${label}: ${value}/${total} (${pct}%)${status ? ` ${status}` : ''}`;
    const now = Date.now();
    if (line === last || (!force && now - lastAt < interval)) return;
    last = line;
    lastAt = now;
    stream.write(`${line}\n`);
  };
  return {
    increment(n = 1) {
      value += n;
      render(value >= total);
    },
    update(v, o = {}) {
      value = v;
      if (o.total !== undefined) total = o.total;
      if (o.status !== undefined) status = o.status;
      render(false);
    },
    stop() {
      render(true);
    },
  };
}
