import { jobQueueName, QUEUE_PREFIX } from '@visionbatch/shared/queues';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** One BullMQ queue per job, opened lazily and cached (a Queue holds no blocking connection). */
export class JobQueues {
  private readonly open = new Map<string, Queue>();

  constructor(private readonly connection: Redis) {}

  get(ws: string, jobId: string): Queue {
    const name = jobQueueName(ws, jobId);
    let q = this.open.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: QUEUE_PREFIX });
      this.open.set(name, q);
    }
    return q;
  }

  /** Waiting + delayed + prioritized + active tasks. */
  async pending(ws: string, jobId: string): Promise<{ waiting: number; active: number }> {
    const c = await this.get(ws, jobId).getJobCounts('waiting', 'delayed', 'prioritized', 'active');
    return { waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0 };
  }

  /** Removes a finished job's queue and its Redis keys. */
  async destroy(ws: string, jobId: string): Promise<void> {
    const q = this.get(ws, jobId);
    await q.obliterate({ force: true });
    await q.close();
    this.open.delete(jobQueueName(ws, jobId));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open.values()].map((q) => q.close()));
    this.open.clear();
  }
}
