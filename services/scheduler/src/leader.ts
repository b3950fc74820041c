import { runScript } from '@visionbatch/shared/lifecycle/scripts';
import type { Logger } from '@visionbatch/shared/logger';
import { keys } from '@visionbatch/shared/redis-keys';
import type { Redis } from 'ioredis';

/**
 * The scheduler's leader lease: a key in Redis with a TTL that one replica holds and renews (the
 * way BullMQ extends a job lock: only while the value is still its token). The leader runs the
 * loops (reconcile, autoscaler, collectors); every replica serves gRPC. The token carries a fencing
 * number, and the job scripts check it, so a replica that lost the lease (a long pause, a partition)
 * cannot write a move even before it notices.
 */
export class LeaderLease {
  private token: string | null = null;
  private since = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(leading: boolean) => void>();

  constructor(
    private readonly redis: Redis,
    private readonly replicaId: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The token while this replica leads, else null. */
  get current(): string | null {
    return this.token;
  }

  /** How long this replica has led (0 when it does not). */
  heldForMs(): number {
    return this.token ? this.now() - this.since : 0;
  }

  onChange(fn: (leading: boolean) => void): void {
    this.listeners.add(fn);
  }

  /** One round: renew the lease if held, else try to take it. */
  async round(): Promise<void> {
    try {
      if (this.token) {
        const renewed = await runScript<number>(
          this.redis,
          'leaderRenew',
          [keys.schedulerLeader()],
          [this.token, this.ttlMs],
        );
        if (renewed !== 1) this.lose('lease taken over or expired');
        return;
      }
      const token = await runScript<string | null>(
        this.redis,
        'leaderAcquire',
        [keys.schedulerLeader(), keys.schedulerLeaderSeq()],
        [this.replicaId, this.ttlMs],
      );
      if (token) {
        this.token = token;
        this.since = this.now();
        this.logger.info({ token }, 'this scheduler replica leads');
        for (const fn of this.listeners) fn(true);
      }
    } catch (err) {
      // Without Redis a leader cannot know it still leads: stop acting as one.
      if (this.token) this.lose(`renewal failed: ${(err as Error).message}`);
    }
  }

  private lose(why: string): void {
    this.logger.warn({ token: this.token, why }, 'this scheduler replica no longer leads');
    this.token = null;
    for (const fn of this.listeners) fn(false);
  }

  /** Renews or tries to take the lease every third of its TTL. */
  start(): void {
    const every = Math.max(50, Math.floor(this.ttlMs / 3));
    const loop = async () => {
      await this.round();
      if (this.timer) this.timer = setTimeout(loop, every);
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stops renewing and gives the lease up, so another replica takes over without waiting for the TTL. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const token = this.token;
    this.token = null;
    if (token) {
      await runScript(this.redis, 'leaderRelease', [keys.schedulerLeader()], [token]).catch(() => {});
      for (const fn of this.listeners) fn(false);
    }
  }
}
