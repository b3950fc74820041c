import { z } from 'zod';
import { IsoTimestamp, NextPageToken } from './common.ts';

/** Wire shapes of the model and workflow registries (visionbatch endpoints). */

/** A registered model (registry-repo.ts `ModelRecord`). */
export const ModelRecordV1 = z
  .object({
    modelId: z.string(),
    task: z.enum(['object-detection', 'classification', 'multi-label-classification']),
    architecture: z.string(),
    classNames: z.array(z.string()),
    input: z.object({ width: z.number().int(), height: z.number().int() }),
    resizeMode: z.enum(['stretch', 'letterbox', 'center-crop', 'shortest-edge-center-crop']),
    paddingValue: z.number(),
    postProcessing: z.enum(['nms', 'nms-fused', 'softmax', 'softmax-fused', 'sigmoid']),
    defaults: z.object({
      confidence: z.number(),
      iouThreshold: z.number(),
      maxDetections: z.number().int(),
      classAgnosticNms: z.boolean(),
    }),
    description: z.string().optional(),
    author: z.string().optional(),
    weightsKey: z.string(),
    weightsSha256: z.string(),
    weightsBytes: z.number().int(),
    createdAt: IsoTimestamp,
  })
  .meta({ id: 'ModelRecord' });

/** Where each field of an uploaded model's config came from. */
const ConfigSource = z.enum(['config', 'metadata', 'graph', 'default']);
export const ModelConfigSourcesV1 = z
  .object({
    task: ConfigSource,
    classNames: ConfigSource,
    input: ConfigSource,
    resizeMode: ConfigSource,
    paddingValue: ConfigSource,
    postProcessing: ConfigSource,
    architecture: ConfigSource,
  })
  .meta({ id: 'ModelConfigSources' });

/** A stored workflow (the bare definition, spec/workflows.md §1.1). */
export const WorkflowRecordV1 = z
  .object({
    workflowId: z.string(),
    definition: z.record(z.string(), z.unknown()),
    createdAt: IsoTimestamp,
    updatedAt: IsoTimestamp,
  })
  .meta({ id: 'WorkflowRecord' });

/** A step field the workflow's block does not have (ignored, as Roboflow does, but said). */
export const CompileWarningV1 = z
  .object({ step: z.string(), field: z.string(), message: z.string() })
  .meta({ id: 'CompileWarning' });

/** The body of `PUT .../workflows/{id}`: a definition, `{specification}` or `{workflow: {config}}`. */
export const WorkflowPutBody = z.union([
  z
    .object({ inputs: z.array(z.unknown()), steps: z.array(z.unknown()), outputs: z.array(z.unknown()) })
    .loose(),
  z.object({ specification: z.record(z.string(), z.unknown()) }),
  z.object({ workflow: z.object({ config: z.string() }).loose() }).loose(),
]);

/** The multipart form of `PUT .../models/{modelId}`. */
export const ModelUploadForm = z.object({
  weights: z.string().meta({ format: 'binary', description: 'the ONNX file' }),
  config: z.string().optional().meta({
    description: 'model config JSON (a field or a file part); what it leaves out comes from the file',
  }),
});

export const PutWorkflowResponse = z.object({
  workflowId: z.string(),
  status: z.enum(['created', 'updated']),
  warnings: z.array(CompileWarningV1),
});
export const GetWorkflowResponse = z.object({ workflow: WorkflowRecordV1 });
export const ListWorkflowsResponse = z.object({
  workflows: z.array(z.string()),
  nextPageToken: NextPageToken,
});
export const DeleteWorkflowResponse = z.object({ workflowId: z.string(), status: z.literal('deleted') });
export const PutModelResponse = z.object({ model: ModelRecordV1, configSources: ModelConfigSourcesV1 });
export const GetModelResponse = z.object({ model: ModelRecordV1 });
export const ListModelsResponse = z.object({ models: z.array(z.string()), nextPageToken: NextPageToken });
export const DeleteModelResponse = z.object({ modelId: z.string(), status: z.literal('deleted') });
