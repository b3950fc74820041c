/**
 * Measured throughput of one pool, in files per machine-second: files finished by the processing
 * stages of its jobs, divided by the machine time those jobs held leases. Samples are gathered over
 * windows of at least {@link WINDOW_MACHINE_MS} machine time (so model loading and the tail of a
 * task do not swing the value) and smoothed; before the first full window the default applies.
 */

/** Machine time a sample covers at least. */
export const WINDOW_MACHINE_MS = 10_000;
/** A window in which machines held leases but finished nothing is dropped after this much machine time. */
const STALE_WINDOW_MACHINE_MS = 120_000;
/** Weight of the newest window. */
const ALPHA = 0.5;

/** Files per machine-second of one pool, measured over windows of machine time. */
export class ThroughputMeter {
  private rate: number | null = null;
  private files = 0;
  private machineMs = 0;

  constructor(private readonly fallback: number) {}

  /** Adds `files` finished while `machines` machines were leased for `ms`. */
  record(files: number, machines: number, ms: number): void {
    if (machines <= 0 || ms <= 0) return;
    this.files += Math.max(0, files);
    this.machineMs += machines * ms;
    if (this.machineMs >= WINDOW_MACHINE_MS && this.files > 0) {
      const sample = this.files / (this.machineMs / 1000);
      this.rate = this.rate === null ? sample : ALPHA * sample + (1 - ALPHA) * this.rate;
      this.files = 0;
      this.machineMs = 0;
    } else if (this.machineMs >= STALE_WINDOW_MACHINE_MS) {
      this.files = 0;
      this.machineMs = 0;
    }
  }

  /** Files per machine-second: measured, else the default. */
  filesPerMachineSecond(): number {
    return this.rate ?? this.fallback;
  }

  /** Whether a value has been measured yet. */
  measured(): boolean {
    return this.rate !== null;
  }
}
