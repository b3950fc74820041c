import type { JobEndedEffects } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { keys } from '@visionbatch/shared/redis-keys';
import type { Clock } from '@visionbatch/shared/time';
import type { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import type { FaultPoints } from './fault-points.ts';
import type { JobQueues } from './job-queues.ts';
import type { Notifier } from './notifier.ts';

export interface OutboxReaperDeps {
  redis: Redis;
  queues: JobQueues;
  notifier: Notifier;
  /** `Authorization` of a workspace's webhooks */
  webhookAuthorization: (ws: string) => Promise<string>;
  clock: Clock;
  logger: Logger;
  faults: FaultPoints;
  jobsEnded: Counter<'state'>;
}

/** Back-off of an entry whose effects failed (Redis or the queue briefly unavailable). */
const RETRY_MS = [1000, 5000, 30_000];

/**
 * Carries out the side effects that moves wrote into the outbox with their state (a job's end:
 * remove its queue, enqueue its webhook, count it). Every effect is idempotent: a queue that is
 * gone stays gone, and the webhook is enqueued under a deduplication id with the `event_id` chosen
 * when the job ended, so an entry carried out twice (a crash between an effect and the entry's
 * removal, a leader change) sends its webhook once, with one `event_id`. Only the leader reaps.
 */
export class OutboxReaper {
  private readonly failures = new Map<string, number>();

  constructor(private readonly d: OutboxReaperDeps) {}

  /** Carries out the entries that are due; answers how many were done. */
  async reap(limit = 50): Promise<number> {
    const { redis, clock } = this.d;
    const ids = await redis.zrangebyscore(keys.outboxDue(), '-inf', String(clock.now()), 'LIMIT', 0, limit);
    if (ids.length === 0) return 0;
    const entries = await redis.hmget(keys.outbox(), ...ids);
    let done = 0;
    for (const [i, id] of ids.entries()) {
      const raw = entries[i];
      try {
        if (raw) await this.carryOut(JSON.parse(raw) as JobEndedEffects);
        await redis.multi().hdel(keys.outbox(), id).zrem(keys.outboxDue(), id).exec();
        if (raw) this.count(JSON.parse(raw) as JobEndedEffects);
        this.failures.delete(id);
        done++;
      } catch (err) {
        const n = (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, n);
        const delay = RETRY_MS[Math.min(n, RETRY_MS.length) - 1];
        this.d.logger.warn(
          { outboxId: id, err: (err as Error).message, retryInMs: delay },
          'outbox entry failed',
        );
        await redis.zadd(keys.outboxDue(), 'XX', String(clock.now() + delay), id).catch(() => {});
      }
    }
    return done;
  }

  private async carryOut(e: JobEndedEffects): Promise<void> {
    for (const q of e.queues) await this.d.queues.destroy(q);
    if (e.webhook) {
      await this.d.faults.hit('before-webhook-enqueue');
      await this.d.notifier.send(
        e.webhook.url,
        await this.d.webhookAuthorization(e.workspace),
        { ...e.webhook.body, event_id: e.webhook.eventId },
        e.webhook.dedupeId,
        { workspace: e.workspace, jobId: e.jobId },
      );
      await this.d.faults.hit('after-webhook-enqueue');
    }
    this.d.logger.info(
      { workspace: e.workspace, jobId: e.jobId, epoch: e.epoch, state: e.state },
      'job end carried out',
    );
  }

  private count(e: JobEndedEffects): void {
    this.d.jobsEnded.inc({ state: e.state === 'succeeded' ? 'success' : 'fail' });
  }
}
