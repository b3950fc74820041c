/**
 * An expected failure of a command: its message is printed as `Command failed. Cause: <message>`
 * without a stack trace (unless `--debug-mode`), and the process exits with {@link exitCode}.
 */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, opts: { cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CliError';
    this.exitCode = opts.exitCode ?? 1;
  }
}
