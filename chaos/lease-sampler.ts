/**
 * Watches the open machine leases in Redis during a chaos run (every lease hash on the `leases`
 * index, a few times a second) and keeps, per lease, when it was granted, its last heartbeat seen and
 * when it was last seen open.
 * A sample that fails (Redis down) is skipped: a lease cannot heartbeat while Redis is down either.
 */
import { keys } from '@visionbatch/shared/redis-keys';
import type { Redis } from 'ioredis';

/** A lease as the sampler saw it. */
export interface LeaseObservation {
  leaseId: string;
  jobId: string;
  startedAt: number;
  /** the latest `lastHeartbeat` seen while the lease was open */
  lastHeartbeat: number;
  /** when the sampler last saw the lease open (this machine's clock, as the processes') */
  lastSeenAt: number;
}

export class LeaseSampler {
  readonly seen = new Map<string, LeaseObservation>();
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.sample().catch(() => {});
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    })();
  }

  /** Reads every open lease once. */
  async sample(): Promise<void> {
    const ids = await this.redis.zrange(keys.leases(), '0', '-1');
    if (ids.length === 0) return;
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hmget(keys.lease(id), 'jobId', 'startedAt', 'lastHeartbeat');
    const res = (await pipe.exec()) ?? [];
    const now = Date.now();
    ids.forEach((leaseId, i) => {
      const [jobId, startedAt, lastHeartbeat] = (res[i]?.[1] ?? []) as Array<string | null>;
      if (!jobId || !startedAt || !lastHeartbeat) return;
      const prev = this.seen.get(leaseId);
      this.seen.set(leaseId, {
        leaseId,
        jobId,
        startedAt: Number(startedAt),
        lastHeartbeat: Math.max(Number(lastHeartbeat), prev?.lastHeartbeat ?? 0),
        lastSeenAt: now,
      });
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
