import { z } from 'zod';
import { JOB_STATES } from '../lifecycle/states.ts';
import { IsoTimestamp, NextPageToken } from './common.ts';
import { JobProgressFields } from './job-events.ts';

/**
 * Roboflow-compatible Batch Processing wire shapes (spec/batch-api.md §3). Field names are the
 * exact camelCase the `inference rf-cloud` client sends and reads.
 */

export const ComputeConfigurationV2 = z
  .object({
    type: z.literal('compute-configuration-v2'),
    machineType: z.enum(['cpu', 'gpu']).optional(),
    workersPerMachine: z.number().int().min(1).max(64).optional(),
  })
  .meta({ id: 'ComputeConfigurationV2' });

export const StagingBatchInputV1 = z
  .object({
    type: z.literal('staging-batch-input-v1'),
    batchId: z.string().min(1),
    partName: z.string().min(1).optional(),
    imagesMetadataPart: z.string().min(1).optional(),
  })
  .meta({ id: 'StagingBatchInputV1' });

export const WorkflowsProcessingSpecificationV1 = z
  .object({
    type: z.literal('workflows-processing-specification-v1'),
    workspace: z.string().min(1),
    workflowId: z.string().min(1).max(128),
    workflowParameters: z.record(z.string(), z.unknown()).optional(),
    imageInputName: z.string().min(1).optional(),
    persistImagesOutputs: z.boolean().optional(),
    imagesOutputsToBePersisted: z.array(z.string()).optional(),
    aggregationFormat: z.enum(['csv', 'jsonl']).optional(),
    maxVideoFPS: z.number().positive().max(1000).optional(),
    imagesMetadataInputsMapping: z.record(z.string(), z.string()).optional(),
  })
  .meta({ id: 'WorkflowsProcessingSpecificationV1' });

export const WorkflowProcessingJobV1 = z
  .object({
    type: z.enum(['simple-image-processing-v1', 'simple-video-processing-v1']),
    jobInput: StagingBatchInputV1,
    computeConfiguration: ComputeConfigurationV2,
    processingTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .optional(),
    maxParallelTasks: z.number().int().min(1).max(10_000).optional(),
    maxImageFailureRate: z.number().min(0).max(1).optional(),
    processingSpecification: WorkflowsProcessingSpecificationV1,
    notificationsURL: z.string().url().optional(),
    inferenceBackend: z.enum(['old-inference', 'inference-models']).optional(),
  })
  .meta({ id: 'WorkflowProcessingJobV1' });
export type WorkflowProcessingJob = z.infer<typeof WorkflowProcessingJobV1>;

export const ParametersOverrideV1 = z
  .object({
    type: z.literal('parameters-override-v1'),
    computeConfiguration: ComputeConfigurationV2.partial({ type: true }).optional(),
    maxParallelTasks: z.number().int().min(1).max(10_000).optional(),
    processingTimeoutSeconds: z.number().positive().optional(),
    maxImageFailureRate: z.number().min(0).max(1).optional(),
  })
  .meta({ id: 'ParametersOverrideV1' });
export type ParametersOverride = z.infer<typeof ParametersOverrideV1>;

/** A notification: free text, or a JSON object (Roboflow sends both). */
const Notification = z.union([z.string(), z.record(z.string(), z.unknown())]);

/** JobStageDetails (§3.5); every field required. */
export const JobStageDetailsV1 = z
  .object({
    processingStageId: z.string(),
    processingStageName: z.string(),
    tasksNumber: z.number().int(),
    outputBatches: z.array(z.string()),
    startTimestamp: IsoTimestamp,
    notification: Notification,
    statusType: z.enum(['info', 'success', 'error']),
    lastEventTimestamp: IsoTimestamp,
  })
  .meta({ id: 'JobStageDetails' });
export type JobStageDetails = z.infer<typeof JobStageDetailsV1>;

/** TaskStatus (§3.6). */
export const TaskStatusV1 = z
  .object({
    taskId: z.string(),
    notification: Notification,
    statusType: z.enum(['info', 'success', 'error']),
    progress: z.number().nullable(),
    eventTimestamp: IsoTimestamp,
  })
  .meta({ id: 'TaskStatus' });
export type TaskStatus = z.infer<typeof TaskStatusV1>;

/** JobLog (§3.9). */
export const JobLogV1 = z
  .object({
    createdAt: IsoTimestamp,
    processingStageId: z.string().nullable(),
    taskId: z.string().nullable(),
    severity: z.enum(['info', 'warning', 'error']),
    reportingModule: z.string(),
    logType: z.string(),
    payload: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'JobLog' });
export type JobLog = z.infer<typeof JobLogV1>;

/** Machine time billed to a job (a visionbatch extension the Roboflow client ignores). */
export const ComputeUsageV1 = z
  .object({ cpuSeconds: z.number(), gpuSeconds: z.number(), credits: z.number() })
  .meta({ id: 'ComputeUsage' });

/** JobMetadata (§3.1) plus visionbatch's extensions (state, computeUsage, progress, estimatedCompletion). */
export const JobMetadataV1 = z
  .object({
    jobId: z.string(),
    name: z.string(),
    jobDefinition: WorkflowProcessingJobV1,
    currentStage: z.string().nullable(),
    plannedStages: z.array(z.string()).nullable(),
    error: z.boolean(),
    isTerminal: z.boolean(),
    lastNotification: Notification.nullable(),
    createdAt: IsoTimestamp,
    lastUpdate: IsoTimestamp,
    restartParametersOverride: z.array(ParametersOverrideV1),
    /** the lifecycle state (a visionbatch extension) */
    state: z.enum(JOB_STATES),
    computeUsage: ComputeUsageV1,
    progress: JobProgressFields.shape.progress,
    estimatedCompletion: JobProgressFields.shape.estimatedCompletion,
  })
  .meta({ id: 'JobMetadata' });

export const ListJobsResponse = z.object({ jobs: z.array(JobMetadataV1), nextPageToken: NextPageToken });
export const GetJobResponse = z.object({ job: JobMetadataV1 });
export const CreateJobResponse = z.object({ jobId: z.string(), status: z.literal('accepted') });
export const ListStagesResponse = z.object({ stages: z.array(JobStageDetailsV1) });
export const ListTasksResponse = z.object({ tasks: z.array(TaskStatusV1), nextPageToken: NextPageToken });
export const AbortJobResponse = z.object({
  jobId: z.string(),
  status: z.enum(['abort-requested', 'aborted']),
});
export const RestartJobResponse = z.object({ jobId: z.string(), status: z.literal('restarted') });
export const ListLogsResponse = z.object({
  logs: z.array(JobLogV1),
  nextPageToken: NextPageToken,
  /** lines the capped log dropped (VB_JOB_LOG_LIMIT), a visionbatch extension */
  droppedLogLines: z.number().int(),
});

/** Query of the job list and log routes: page size and the token of the previous page. */
export const PageQuery = z.object({
  pageSize: z
    .string()
    .regex(/^\d+$/)
    .optional()
    .meta({ description: "items per page (clamped to the route's maximum)" }),
  nextPageToken: z.string().optional().meta({ description: 'the `nextPageToken` of the previous page' }),
});

/** The path of a zod issue as the dotted field name users see in errors. */
export function issueField(path: ReadonlyArray<PropertyKey>): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
      .join('.')
      .replace(/\.\[/g, '[') || 'body'
  );
}
