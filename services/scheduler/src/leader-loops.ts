import type { Logger } from '@visionbatch/shared/logger';
import type { LeaderLease } from './leader.ts';

/** A piece of the leader's work, run every tick. */
export interface LeaderTask {
  name: string;
  run: () => Promise<unknown>;
}

export interface LeaderLoopsDeps {
  leader: Pick<LeaderLease, 'current'>;
  logger: Logger;
  tickMs: number;
  /** run every tick, one after the other, while this replica leads */
  every: LeaderTask[];
  /** run every `intervalMs` while this replica leads (retention: batches, jobs) */
  collectors: { intervalMs: number; run: () => Promise<unknown> };
}

/**
 * The loops only the leading replica runs: reconcile, outbox, lease expiry each tick, collectors on
 * their own interval. A replica that does not lead keeps ticking idle, so it takes over within one
 * tick of winning the lease. `stop()` waits for the round in progress.
 */
export function startLeaderLoops(d: LeaderLoopsDeps): { stop(): Promise<void> } {
  let stopped = false;
  let lastCollect = 0;
  let current: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  const round = async () => {
    if (!d.leader.current) return;
    for (const t of d.every) {
      if (stopped || !d.leader.current) return;
      await t.run().catch((err) => d.logger.error({ err, loop: t.name }, 'leader loop failed'));
    }
    if (Date.now() - lastCollect >= d.collectors.intervalMs) {
      lastCollect = Date.now();
      await d.collectors.run().catch((err) => d.logger.error({ err }, 'collectors failed'));
    }
  };
  const tick = () => {
    if (stopped) return;
    const started = Date.now();
    current = round().finally(() => {
      if (!stopped) timer = setTimeout(tick, Math.max(0, d.tickMs - (Date.now() - started)));
    });
  };
  tick();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
