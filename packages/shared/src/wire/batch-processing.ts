import { z } from 'zod';

/**
 * Roboflow-compatible Batch Processing wire shapes (spec/batch-api.md §3). Field names are the
 * exact camelCase the `inference rf-cloud` client sends and reads.
 */

export const ComputeConfigurationV2 = z.object({
  type: z.literal('compute-configuration-v2'),
  machineType: z.enum(['cpu', 'gpu']).optional(),
  workersPerMachine: z.number().int().min(1).max(64).optional(),
});

export const StagingBatchInputV1 = z.object({
  type: z.literal('staging-batch-input-v1'),
  batchId: z.string().min(1),
  partName: z.string().min(1).optional(),
  imagesMetadataPart: z.string().min(1).optional(),
});

export const WorkflowsProcessingSpecificationV1 = z.object({
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
});

export const WorkflowProcessingJobV1 = z.object({
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
});
export type WorkflowProcessingJob = z.infer<typeof WorkflowProcessingJobV1>;

export const ParametersOverrideV1 = z.object({
  type: z.literal('parameters-override-v1'),
  computeConfiguration: ComputeConfigurationV2.partial({ type: true }).optional(),
  maxParallelTasks: z.number().int().min(1).max(10_000).optional(),
  processingTimeoutSeconds: z.number().positive().optional(),
  maxImageFailureRate: z.number().min(0).max(1).optional(),
});
export type ParametersOverride = z.infer<typeof ParametersOverrideV1>;

/** JobStageDetails (§3.5); every field required. */
export interface JobStageDetails {
  processingStageId: string;
  processingStageName: string;
  tasksNumber: number;
  outputBatches: string[];
  startTimestamp: string;
  notification: Record<string, unknown> | string;
  statusType: 'info' | 'success' | 'error';
  lastEventTimestamp: string;
}

/** TaskStatus (§3.6). */
export interface TaskStatus {
  taskId: string;
  notification: Record<string, unknown> | string;
  statusType: 'info' | 'success' | 'error';
  progress: number | null;
  eventTimestamp: string;
}

/** JobLog (§3.9). */
export interface JobLog {
  createdAt: string;
  processingStageId: string | null;
  taskId: string | null;
  severity: 'info' | 'warning' | 'error';
  reportingModule: string;
  logType: string;
  payload: Record<string, unknown>;
}

/** The path of a zod issue as the dotted field name users see in errors. */
export function issueField(path: ReadonlyArray<PropertyKey>): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
      .join('.')
      .replace(/\.\[/g, '[') || 'body'
  );
}
