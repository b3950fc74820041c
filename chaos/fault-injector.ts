/**
 * Plays a chaos schedule against a stack: at each event's time it stops the target (unless it is
 * already down) and starts it again after the event's down time. Counts what it did by kind.
 */

import type { ChaosEvent, ProcessKind } from './schedule.ts';
import type { ChaosStack } from './stack.ts';

export class FaultInjector {
  readonly kills: Record<ProcessKind, number> = { worker: 0, scheduler: 0, api: 0, redis: 0 };
  readonly redisStops = { sigkill: 0, shutdown: 0 };
  readonly done: ChaosEvent[] = [];
  skipped = 0;
  private readonly restarts = new Map<string, Promise<void>>();

  constructor(
    private readonly stack: Pick<ChaosStack, 'isUp' | 'stop' | 'start'>,
    private readonly log: (msg: string) => void,
  ) {}

  /** Plays `events` from `t0` (performance.now() ms); resolves once every stopped process was started again. */
  async play(events: readonly ChaosEvent[], t0: number): Promise<void> {
    for (const e of events) {
      const wait = t0 + e.atMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.restarts.has(e.target) || !this.stack.isUp(e.target)) {
        this.skipped++;
        continue;
      }
      await this.stack.stop(e.target, e.action);
      this.kills[e.kind]++;
      if (e.kind === 'redis') this.redisStops[e.action]++;
      this.done.push(e);
      this.log(`fault: ${e.action} ${e.target}, back in ${(e.downMs / 1000).toFixed(1)} s`);
      this.restarts.set(
        e.target,
        new Promise<void>((r) => setTimeout(r, e.downMs))
          .then(() => this.stack.start(e.target))
          .finally(() => this.restarts.delete(e.target)),
      );
    }
    await Promise.all(this.restarts.values());
  }
}
