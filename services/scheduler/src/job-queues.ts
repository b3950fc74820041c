import { jobQueueName, QUEUE_PREFIX } from '@visionbatch/shared/queues';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * One BullMQ queue per job and epoch, opened lazily and cached (a Queue holds no blocking connection).
 * Opened without BullMQ's meta update: opening a queue would otherwise write its `meta` hash, and a
 * queue opened after the job ended and its queue was removed (counts read by another replica, the
 * removal itself) would leave that hash behind until the job is collected. Only adding tasks writes.
 */
export class JobQueues {
  private readonly open = new Map<string, Queue>();

  constructor(private readonly connection: Redis) {}

  get(ws: string, jobId: string, epoch: number): Queue {
    return this.byName(jobQueueName(ws, jobId, epoch));
  }

  private byName(name: string): Queue {
    let q = this.open.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: QUEUE_PREFIX, skipMetasUpdate: true });
      this.open.set(name, q);
    }
    return q;
  }

  /** Waiting + delayed + prioritized, and active tasks. */
  async pending(ws: string, jobId: string, epoch: number): Promise<{ waiting: number; active: number }> {
    const c = await this.get(ws, jobId, epoch).getJobCounts('waiting', 'delayed', 'prioritized', 'active');
    return { waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0 };
  }

  /** Removes a queue and every Redis key of it (idempotent: a queue that is gone stays gone). */
  async destroy(name: string): Promise<void> {
    const q = this.byName(name);
    try {
      await q.obliterate({ force: true });
    } finally {
      await q.close();
      this.open.delete(name);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open.values()].map((q) => q.close()));
    this.open.clear();
  }
}
