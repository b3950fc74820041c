import type { CompileWarning } from '@visionbatch/engine/workflow/compiler';
import type { JobRecord, JobSnapshot } from '@visionbatch/shared/jobs-repo';
import type { WorkflowProcessingJob } from '@visionbatch/shared/wire/batch-processing';
import type { FastifyBaseLogger } from 'fastify';
import type { ApiDeps } from './deps.ts';

/** A job to store: what the create and estimate routes know of it. */
export interface JobSubmission {
  workspace: string;
  jobId: string;
  name: string;
  definition: WorkflowProcessingJob;
  snapshot: JobSnapshot;
  /** what the workflow ignores, logged once when the job is created */
  warnings: readonly CompileWarning[];
  notification: string;
  sample?: JobRecord['sample'];
}

/**
 * Stores a job (queued, epoch 0, with its snapshot), logs its workflow warnings once, and nudges
 * the scheduler (best effort: its leader also finds queued jobs on its own tick). Answers what the
 * create move said: a new job, the same one again, or a different one under that id.
 */
export async function submitJob(
  deps: Pick<ApiDeps, 'jobs' | 'scheduler' | 'clock'>,
  log: FastifyBaseLogger,
  job: JobSubmission,
): Promise<'created' | 'same' | 'different'> {
  const r = await deps.jobs.create(
    {
      jobId: job.jobId,
      workspace: job.workspace,
      name: job.name,
      definition: job.definition,
      lastNotification: job.notification,
      createdAt: deps.clock.now(),
      ...(job.sample ? { sample: job.sample } : {}),
    },
    job.snapshot,
  );
  if (r === 'different') return r;
  // What the workflow ignores goes into the job's logs, where `fetch-logs` shows it.
  if (r === 'created' && job.warnings.length > 0)
    await deps.jobs.log(
      job.workspace,
      job.jobId,
      ...job.warnings.map((w) => ({
        processingStageId: null,
        taskId: null,
        severity: 'warning' as const,
        reportingModule: 'api',
        logType: 'workflow-warning',
        payload: { step: w.step, field: w.field, message: w.message },
      })),
    );
  deps.scheduler
    .SubmitJob({ workspace: job.workspace, job_id: job.jobId })
    .catch((err) =>
      log.warn({ err, jobId: job.jobId }, 'scheduler not reachable; it picks the job up on its next tick'),
    );
  return r;
}
