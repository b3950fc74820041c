/**
 * Named points where a test can have the scheduler killed (SIGKILL, no clean-up), to prove that a
 * crash between any two steps loses nothing. Test-only: set `VB_FAULT_POINTS` to a comma-separated
 * list of `point` or `point:n` (die the n-th time the point is reached, default the first).
 */
export const FAULT_POINTS = [
  'after-terminal-write',
  'before-webhook-enqueue',
  'after-webhook-enqueue',
  'mid-plan',
  'mid-export',
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

export class FaultPoints {
  private readonly armed = new Map<string, number>();

  constructor(
    spec: readonly string[],
    private readonly die: (point: string) => void = () => process.kill(process.pid, 'SIGKILL'),
  ) {
    for (const s of spec) {
      const [name, n] = s.split(':');
      if (!(FAULT_POINTS as readonly string[]).includes(name))
        throw new Error(`unknown fault point "${name}" (known: ${FAULT_POINTS.join(', ')})`);
      this.armed.set(name, Math.max(1, Number(n ?? 1)));
    }
  }

  /** Reached a point: dies when it is armed and its count is reached. */
  async hit(point: FaultPoint): Promise<void> {
    const left = this.armed.get(point);
    if (left === undefined) return;
    if (left > 1) {
      this.armed.set(point, left - 1);
      return;
    }
    this.armed.delete(point);
    this.die(point);
    // SIGKILL takes effect asynchronously: never go on past the point
    await new Promise(() => {});
  }
}
