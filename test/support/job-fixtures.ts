/**
 * Jobs in a given state for tests, made through the real moves (the same scripts the api, scheduler
 * and workers run), never by writing keys by hand. Moves that need the leader use a test token that
 * `holdLeader` writes where the scheduler's leader lease lives.
 */

import type { Redis } from 'ioredis';
import { endJob } from '../../packages/shared/src/job-ending.ts';
import type { JobRecord, JobSnapshot, JobsRepo } from '../../packages/shared/src/jobs-repo.ts';
import { keys } from '../../packages/shared/src/redis-keys.ts';
import type { WorkflowProcessingJob } from '../../packages/shared/src/wire/batch-processing.ts';

export const TEST_LEADER = 'test-leader:1';

/** Makes `token` the scheduler's leader token (no TTL). */
export async function holdLeader(redis: Redis, token = TEST_LEADER): Promise<void> {
  await redis.set(keys.schedulerLeader(), token);
}

/** A minimal image job definition over `batchId`. */
export function imageJobDefinition(
  ws: string,
  batchId: string,
  extra: Partial<WorkflowProcessingJob> = {},
): WorkflowProcessingJob {
  return {
    type: 'simple-image-processing-v1',
    jobInput: { type: 'staging-batch-input-v1', batchId },
    computeConfiguration: { type: 'compute-configuration-v2', machineType: 'cpu', workersPerMachine: 1 },
    processingSpecification: {
      type: 'workflows-processing-specification-v1',
      workspace: ws,
      workflowId: 'wf',
    },
    ...extra,
  } as WorkflowProcessingJob;
}

const EMPTY_SNAPSHOT: JobSnapshot = {
  workflow: { version: '1.0', inputs: [], steps: [], outputs: [] },
  models: {},
};

/** Creates a queued job. */
export async function createJob(
  jobs: JobsRepo,
  opts: {
    ws: string;
    jobId: string;
    definition: WorkflowProcessingJob;
    createdAt: number;
    snapshot?: JobSnapshot;
  },
): Promise<JobRecord> {
  await jobs.create(
    {
      jobId: opts.jobId,
      workspace: opts.ws,
      name: opts.jobId,
      definition: opts.definition,
      lastNotification: null,
      createdAt: opts.createdAt,
    },
    opts.snapshot ?? EMPTY_SNAPSHOT,
  );
  const rec = await jobs.get(opts.ws, opts.jobId);
  if (!rec) throw new Error('job not created');
  return rec;
}

/** Creates a job whose processing stage is planned (running) with `tasksNumber` tasks. */
export async function createPlannedJob(
  jobs: JobsRepo,
  redis: Redis,
  opts: {
    ws: string;
    jobId: string;
    definition: WorkflowProcessingJob;
    createdAt: number;
    tasksNumber: number;
  },
): Promise<JobRecord> {
  const rec = await createJob(jobs, opts);
  await holdLeader(redis);
  const fence = { epoch: rec.epoch, leaderToken: TEST_LEADER };
  const begun = await jobs.beginPlan(
    opts.ws,
    opts.jobId,
    fence,
    {
      processingStageId: 'processing',
      processingStageName: 'processing',
      tasksNumber: opts.tasksNumber,
      outputBatches: [`${opts.jobId}-processing`],
      startTimestamp: new Date(opts.createdAt).toISOString(),
      notification: '',
      statusType: 'info',
      lastEventTimestamp: new Date(opts.createdAt).toISOString(),
      state: 'planning',
    },
    null,
    'processing',
  );
  if (!begun.ok) throw new Error(`beginPlan refused: ${begun.refusal}`);
  const ended = await jobs.endPlan(opts.ws, opts.jobId, fence, 'processing', opts.tasksNumber, 'planned');
  if (!ended.ok) throw new Error(`endPlan refused: ${ended.refusal}`);
  return (await jobs.get(opts.ws, opts.jobId)) as JobRecord;
}

/** Records a task's end as the scheduler would (no task lock; the leader token instead). */
export async function finishTaskAsLeader(
  jobs: JobsRepo,
  rec: Pick<JobRecord, 'workspace' | 'jobId' | 'epoch'>,
  taskId: string,
  files: { ok: number; failed: number },
  ok = true,
  stage = 'processing',
): Promise<void> {
  const r = await jobs.taskFinish(
    {
      workspace: rec.workspace,
      jobId: rec.jobId,
      epoch: rec.epoch,
      stage,
      taskId,
      lock: null,
      leaderToken: TEST_LEADER,
    },
    { ok, notification: ok ? 'ok' : 'failed', files },
  );
  if (!r.ok) throw new Error(`taskFinish refused: ${r.refusal}`);
}

/** Ends a job as the scheduler would. */
export async function endJobAsLeader(
  jobs: JobsRepo,
  rec: JobRecord,
  state: 'succeeded' | 'failed' | 'aborted' = 'succeeded',
): Promise<void> {
  const r = await endJob(
    jobs,
    rec,
    { state, notification: state, logType: `job-${state}`, severity: 'info', module: 'scheduler' },
    { leaderToken: TEST_LEADER },
  );
  if (!r.ok) throw new Error(`endJob refused: ${r.refusal}`);
}
