import { randomUUID } from 'node:crypto';
import type { Fence, JobEndedEffects, JobRecord, JobsRepo, Moved } from './jobs-repo.ts';
import { jobQueueName } from './queues.ts';
import type { JobLog } from './wire/batch-processing.ts';

/** How a job ends: its terminal state, the notification users read and the log line written with it. */
export interface JobEnd {
  state: 'succeeded' | 'failed' | 'aborted';
  notification: string;
  logType: string;
  severity: JobLog['severity'];
  module: 'api' | 'scheduler';
  payload?: Record<string, unknown>;
}

/** The outbox entry id of a job's end at an epoch: one terminal event per epoch. */
export const jobEndedOutboxId = (ws: string, jobId: string, epoch: number) =>
  `job-ended:${ws}/${jobId}:e${epoch}`;

/** The side effects of a job's end at `rec.epoch`: remove its queue, send its webhook (spec §4.3). */
export function jobEndedEffects(rec: JobRecord, state: JobEnd['state']): JobEndedEffects {
  const url = rec.definition.notificationsURL;
  return {
    type: 'job-ended',
    workspace: rec.workspace,
    jobId: rec.jobId,
    epoch: rec.epoch,
    state,
    queues: [jobQueueName(rec.workspace, rec.jobId, rec.epoch)],
    webhook: url
      ? {
          url,
          eventId: randomUUID(),
          dedupeId: `job-${rec.workspace}-${rec.jobId}-e${rec.epoch}`,
          body: {
            type: 'roboflow-batch-job-notification-v1',
            job_id: rec.jobId,
            job_state: state === 'succeeded' ? 'success' : 'fail',
          },
        }
      : null,
  };
}

/**
 * Ends a job at the epoch of `rec` with its effects in the outbox, in one step. A job restarted
 * since `rec` was read is refused (`stale-epoch`); one that already ended, with `job-terminal`.
 */
export function endJob(
  jobs: JobsRepo,
  rec: JobRecord,
  end: JobEnd,
  fence: Partial<Fence> = {},
): Promise<Moved<{ epoch: number }>> {
  return jobs.endJob(
    rec.workspace,
    rec.jobId,
    {
      state: end.state,
      notification: end.notification,
      log: { type: end.logType, severity: end.severity, module: end.module, payload: end.payload ?? {} },
      effects: jobEndedEffects(rec, end.state),
      outboxId: jobEndedOutboxId(rec.workspace, rec.jobId, rec.epoch),
    },
    { ...fence, epoch: rec.epoch },
  );
}

/**
 * A user's abort: ends the job whatever its epoch, re-reading it when a restart slipped in between.
 * Answers the state the job is in afterwards, or null when there is no such job.
 */
export async function abortJob(
  jobs: JobsRepo,
  ws: string,
  jobId: string,
): Promise<JobRecord['state'] | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const rec = await jobs.get(ws, jobId);
    if (!rec) return null;
    if (rec.isTerminal) return rec.state;
    const r = await endJob(jobs, rec, {
      state: 'aborted',
      notification: 'job aborted by user',
      logType: 'job-aborted',
      severity: 'warning',
      module: 'api',
    });
    if (r.ok) return 'aborted';
    if (r.refusal === 'job-terminal') return (r.detail as JobRecord['state']) ?? 'aborted';
  }
  const rec = await jobs.get(ws, jobId);
  return rec?.state ?? null;
}
