import type { JobsRepo } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { jobQueueName } from '@visionbatch/shared/queues';
import type { Clock } from '@visionbatch/shared/time';
import type { JobQueues } from './job-queues.ts';

export interface JobCollectorDeps {
  jobs: JobsRepo;
  queues: JobQueues;
  clock: Clock;
  logger: Logger;
  /** how long a terminal job is kept */
  retentionMs: number;
}

/**
 * Retention of terminal jobs: every key of a job that ended more than `retentionMs` ago (record,
 * snapshot, stages, tasks, logs, events, meter) goes in one script, then whatever queue any of its
 * epochs might have left. Driven by the ended-jobs index, so a sweep costs nothing when nothing is
 * due. Returns how many jobs were collected.
 */
export async function collectEndedJobs(d: JobCollectorDeps, maxPerSweep = 100): Promise<number> {
  const cutoff = d.clock.now() - d.retentionMs;
  let collected = 0;
  for (const { workspace, jobId } of await d.jobs.endedBefore(cutoff, maxPerSweep)) {
    const r = await d.jobs.collect(workspace, jobId, cutoff);
    if (!r.collected) continue;
    for (let epoch = 0; epoch <= r.epoch; epoch++)
      await d.queues.destroy(jobQueueName(workspace, jobId, epoch));
    collected++;
  }
  if (collected > 0) d.logger.info({ collected }, 'terminal jobs past their retention collected');
  return collected;
}
