import { z } from 'zod';
import {
  AbortJobResponse,
  CreateJobResponse,
  GetJobResponse,
  ListJobsResponse,
  ListLogsResponse,
  ListStagesResponse,
  ListTasksResponse,
  PageQuery,
  ParametersOverrideV1,
  RestartJobResponse,
  WorkflowProcessingJobV1,
} from './batch-processing.ts';
import { StatusOk } from './common.ts';
import {
  CountResponse,
  GetBatchResponse,
  ImageReferencesIngest,
  ListBatchesResponse,
  ListFilesResponse,
  ListPartsResponse,
  ListShardsResponse,
  ReferenceIngestResponse,
  SignedUploadResponse,
  VideoReferencesIngest,
} from './data-staging.ts';
import { Estimate, EstimatePending, EstimateQuery } from './job-estimate.ts';
import { STREAM_ID_RE } from './job-events.ts';
import {
  DeleteModelResponse,
  DeleteWorkflowResponse,
  GetModelResponse,
  GetWorkflowResponse,
  ListModelsResponse,
  ListWorkflowsResponse,
  ModelUploadForm,
  PutModelResponse,
  PutWorkflowResponse,
  WorkflowPutBody,
} from './registry.ts';
import {
  HealthResponse,
  MachinesResponse,
  ReadyResponse,
  RootResponse,
  SignedUploadDone,
  WebhookSecretResponse,
} from './visionbatch.ts';

/**
 * Every route of the api, declared once: method, path, who may call it, the schemas of its query,
 * body and answers, and the error statuses it documents. The routes validate with the same zod
 * schemas; `openapi.ts` builds `/openapi.json` from this table; a test holds the table and the
 * registered routes equal (services/api/src/openapi.test.ts), and the e2e suite checks every
 * real answer against the document (test/contract).
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';

/** A non-JSON answer. */
export type RawAnswer = { raw: 'binary' | 'event-stream' | 'html' | 'json' | 'none'; description: string };

export interface RouteSpec {
  method: HttpMethod;
  /** fastify syntax: `:param`, and a trailing `*` for a model id (which may contain `/`) */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: 'Data Staging' | 'Batch Processing' | 'Registries' | 'Signed URLs' | 'visionbatch' | 'Health';
  /** `api-key`: a workspace key (query `api_key` or Bearer); `signed`: the URL's own HMAC; `none` */
  auth: 'api-key' | 'signed' | 'none';
  /** the name of the `*` parameter */
  wildcard?: string;
  query?: z.ZodObject;
  body?: { json: z.ZodType } | { multipart: z.ZodObject } | { binary: string };
  /** the success answer: status → schema (JSON) or a raw answer */
  ok: Partial<Record<200 | 202, z.ZodType | RawAnswer>>;
  /** documented error statuses (bodies are `Error`) */
  errors: number[];
  /** a page or asset of the console or the docs: registered, but not part of the API document */
  internal?: true;
}

const DS = '/data-staging/v1/external/:workspace';
const BP = '/batch-processing/v1/external/:workspace';
const WF = '/workflows/v1/external/:workspace/workflows';
const MD = '/models/v1/external/:workspace/models';
const SIGNED = '/signed/v1/:workspace/:batchId/:part/:name';

/** The query of a signed URL: method, purpose, expiry and the HMAC (signed-url.ts). */
const signedQuery = z.object({
  m: z.enum(['GET', 'PUT']).meta({ description: 'the signed method' }),
  p: z.string().meta({ description: 'the signed purpose (file, video, shard)' }),
  e: z.string().meta({ description: 'expiry, Unix seconds' }),
  s: z.string().meta({ description: 'the signature' }),
});

/** Errors every authenticated route can answer: bad input, no key, another workspace, Redis down. */
const AUTH = [400, 401, 403, 503];
const WITH_BODY = [...AUTH, 413, 415];

const displayName = z.object({
  displayName: z.string().optional().meta({ description: 'display name of a batch created by this call' }),
});
const partQuery = z.object({
  partName: z.string().optional().meta({ description: 'part of a multipart batch' }),
});

export const ROUTES: readonly RouteSpec[] = [
  // ---- health and discovery
  {
    method: 'GET',
    path: '/healthz',
    operationId: 'healthz',
    summary: 'Liveness',
    tag: 'Health',
    auth: 'none',
    ok: { 200: HealthResponse },
    errors: [],
  },
  {
    method: 'GET',
    path: '/readyz',
    operationId: 'readyz',
    summary: 'Readiness: Redis answers (503 with the same body shape when it does not)',
    tag: 'Health',
    auth: 'none',
    ok: { 200: ReadyResponse },
    errors: [503],
  },
  {
    method: 'GET',
    path: '/',
    operationId: 'workspace',
    summary: "The API key's workspace (every Roboflow CLI command starts here)",
    tag: 'visionbatch',
    auth: 'api-key',
    ok: { 200: RootResponse },
    errors: [401, 503],
  },
  // ---- data staging
  {
    method: 'GET',
    path: `${DS}/batches`,
    operationId: 'listBatches',
    summary: 'List batches',
    tag: 'Data Staging',
    auth: 'api-key',
    query: PageQuery,
    ok: { 200: ListBatchesResponse },
    errors: AUTH,
  },
  {
    method: 'GET',
    path: `${DS}/batches/:batchId`,
    operationId: 'getBatch',
    summary: 'Batch metadata',
    tag: 'Data Staging',
    auth: 'api-key',
    ok: { 200: GetBatchResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'GET',
    path: `${DS}/batches/:batchId/count`,
    operationId: 'countBatchFiles',
    summary: 'Number of files in a batch (or one part)',
    tag: 'Data Staging',
    auth: 'api-key',
    query: partQuery,
    ok: { 200: CountResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'GET',
    path: `${DS}/batches/:batchId/parts`,
    operationId: 'listBatchParts',
    summary: 'Parts of a multipart batch',
    tag: 'Data Staging',
    auth: 'api-key',
    ok: { 200: ListPartsResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'GET',
    path: `${DS}/batches/:batchId/list`,
    operationId: 'listBatchFiles',
    summary: 'Files of a batch with signed download URLs',
    tag: 'Data Staging',
    auth: 'api-key',
    query: partQuery.extend(PageQuery.shape),
    ok: { 200: ListFilesResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'GET',
    path: `${DS}/batches/:batchId/shards`,
    operationId: 'listBatchShards',
    summary: 'Tar shards of a sharded batch and their ingest status',
    tag: 'Data Staging',
    auth: 'api-key',
    query: PageQuery,
    ok: { 200: ListShardsResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'POST',
    path: `${DS}/batches/:batchId/upload/image`,
    operationId: 'uploadImage',
    summary: 'Upload one image (multipart form, one file part)',
    tag: 'Data Staging',
    auth: 'api-key',
    query: displayName.extend({
      fileName: z.string().optional().meta({ description: "defaults to the part's file name" }),
    }),
    body: { multipart: z.object({ file: z.string().meta({ format: 'binary' }) }) },
    ok: { 200: StatusOk },
    errors: [...WITH_BODY, 409],
  },
  {
    method: 'POST',
    path: `${DS}/batches/:batchId/upload/video`,
    operationId: 'videoUploadUrl',
    summary: 'A signed PUT URL for one video',
    tag: 'Data Staging',
    auth: 'api-key',
    query: displayName.extend({ fileName: z.string() }),
    ok: { 200: SignedUploadResponse },
    errors: [...AUTH, 409, 415],
  },
  {
    method: 'POST',
    path: `${DS}/batches/:batchId/bulk-upload/image-files`,
    operationId: 'imageShardUploadUrl',
    summary: 'Register a tar shard of images and get a signed PUT URL for it',
    tag: 'Data Staging',
    auth: 'api-key',
    query: displayName,
    ok: { 200: SignedUploadResponse },
    errors: [...AUTH, 409, 415],
  },
  {
    method: 'POST',
    path: `${DS}/batches/:batchId/bulk-upload/image-references`,
    operationId: 'ingestImageReferences',
    summary: 'Ingest images from URLs (inline list or a JSONL file of references)',
    tag: 'Data Staging',
    auth: 'api-key',
    query: displayName,
    body: { json: ImageReferencesIngest },
    ok: { 200: ReferenceIngestResponse },
    errors: [...WITH_BODY, 409],
  },
  {
    method: 'POST',
    path: `${DS}/batches/:batchId/bulk-upload/video-references`,
    operationId: 'ingestVideoReferences',
    summary: 'Ingest videos from URLs (inline list or a JSONL file of references)',
    tag: 'Data Staging',
    auth: 'api-key',
    query: displayName,
    body: { json: VideoReferencesIngest },
    ok: { 200: ReferenceIngestResponse },
    errors: [...WITH_BODY, 409],
  },
  {
    method: 'POST',
    path: `${DS}/batches/:batchId/roboql-ingest`,
    operationId: 'roboqlIngest',
    summary: 'RoboQL ingest (not supported: 501)',
    tag: 'Data Staging',
    auth: 'api-key',
    ok: {},
    errors: [...AUTH, 501],
  },
  // ---- batch processing
  {
    method: 'GET',
    path: `${BP}/jobs`,
    operationId: 'listJobs',
    summary: 'List jobs, newest first',
    tag: 'Batch Processing',
    auth: 'api-key',
    query: PageQuery,
    ok: { 200: ListJobsResponse },
    errors: AUTH,
  },
  {
    method: 'POST',
    path: `${BP}/jobs/estimate`,
    operationId: 'estimateJob',
    summary: 'Estimate the cost and wall time of a job before running it',
    description:
      'Takes the body of job creation, runs the workflow on a sample of the batch as a job of its own (`est-…`, billed and logged like any job) and extrapolates the measured times to the whole batch. 202 while the sample still runs: ask `GET .../jobs/{estimateJobId}/estimate` later.',
    tag: 'Batch Processing',
    auth: 'api-key',
    query: EstimateQuery,
    body: { json: WorkflowProcessingJobV1 },
    ok: { 200: Estimate, 202: EstimatePending },
    errors: [...WITH_BODY, 404, 422],
  },
  {
    method: 'GET',
    path: `${BP}/jobs/:jobId/estimate`,
    operationId: 'getEstimate',
    summary: 'The estimate of a sample job started by `POST .../jobs/estimate`',
    tag: 'Batch Processing',
    auth: 'api-key',
    query: EstimateQuery.pick({ machines: true }),
    ok: { 200: Estimate, 202: EstimatePending },
    errors: [...AUTH, 404, 422],
  },
  {
    method: 'GET',
    path: `${BP}/jobs/:jobId`,
    operationId: 'getJob',
    summary: 'Job details, with compute usage, progress and estimated completion',
    tag: 'Batch Processing',
    auth: 'api-key',
    ok: { 200: GetJobResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'POST',
    path: `${BP}/jobs/:jobId`,
    operationId: 'createJob',
    summary: 'Create a job (idempotent for the same definition)',
    tag: 'Batch Processing',
    auth: 'api-key',
    query: z.object({
      name: z.string().optional().meta({ description: 'display name (default: the job id)' }),
    }),
    body: { json: WorkflowProcessingJobV1 },
    ok: { 200: CreateJobResponse },
    errors: [...WITH_BODY, 409],
  },
  {
    method: 'GET',
    path: `${BP}/jobs/:jobId/stages`,
    operationId: 'listJobStages',
    summary: 'Stages of a job',
    tag: 'Batch Processing',
    auth: 'api-key',
    ok: { 200: ListStagesResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'GET',
    path: `${BP}/jobs/:jobId/stages/:stageId/tasks`,
    operationId: 'listStageTasks',
    summary: 'Tasks of a stage',
    tag: 'Batch Processing',
    auth: 'api-key',
    query: PageQuery,
    ok: { 200: ListTasksResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'POST',
    path: `${BP}/jobs/:jobId/abort`,
    operationId: 'abortJob',
    summary: 'Abort a job',
    tag: 'Batch Processing',
    auth: 'api-key',
    ok: { 200: AbortJobResponse },
    errors: [...AUTH, 404, 409, 415],
  },
  {
    method: 'POST',
    path: `${BP}/jobs/:jobId/restart`,
    operationId: 'restartJob',
    summary: 'Restart a failed or aborted job, with optional parameter overrides',
    tag: 'Batch Processing',
    auth: 'api-key',
    body: { json: ParametersOverrideV1 },
    ok: { 200: RestartJobResponse },
    errors: [...WITH_BODY, 404, 409],
  },
  {
    method: 'GET',
    path: `${BP}/jobs/:jobId/logs`,
    operationId: 'listJobLogs',
    summary: 'Logs of a job, oldest first',
    tag: 'Batch Processing',
    auth: 'api-key',
    query: PageQuery.extend({
      severity: z.enum(['info', 'warning', 'error']).optional().meta({ description: 'only this severity' }),
    }),
    ok: { 200: ListLogsResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'GET',
    path: `${BP}/jobs/:jobId/events`,
    operationId: 'jobEvents',
    summary: 'Live events of a job (Server-Sent Events)',
    description:
      'Events `state`, `stage`, `task` and `log` with JSON data (JobStateEvent, JobStageEvent, JobTaskEvent, JobLogEvent) and the Redis stream id as SSE `id` (reconnect with `Last-Event-ID` to resume); `gap` (JobGapEvent) when that id is older than the capped stream holds; `terminal` (JobTerminalEvent) after the last state, then the stream closes; `close` (JobCloseEvent) when the server ends it early. Comment lines are heartbeats. 503 past the streams an api serves at once.',
    tag: 'Batch Processing',
    auth: 'api-key',
    query: z.object({
      lastEventId: z
        .string()
        .regex(STREAM_ID_RE)
        .optional()
        .meta({ description: 'resume after this event id (the `Last-Event-ID` header does the same)' }),
    }),
    ok: { 200: { raw: 'event-stream', description: 'the event stream' } },
    errors: [...AUTH, 404],
  },
  // ---- registries
  {
    method: 'GET',
    path: WF,
    operationId: 'listWorkflows',
    summary: 'Workflow ids of the workspace',
    tag: 'Registries',
    auth: 'api-key',
    ok: { 200: ListWorkflowsResponse },
    errors: AUTH,
  },
  {
    method: 'GET',
    path: `${WF}/:workflowId`,
    operationId: 'getWorkflow',
    summary: 'A workflow definition',
    tag: 'Registries',
    auth: 'api-key',
    ok: { 200: GetWorkflowResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'PUT',
    path: `${WF}/:workflowId`,
    operationId: 'putWorkflow',
    summary: 'Save a workflow (compiled on save; warnings name ignored step fields)',
    tag: 'Registries',
    auth: 'api-key',
    body: { json: WorkflowPutBody },
    ok: { 200: PutWorkflowResponse },
    errors: WITH_BODY,
  },
  {
    method: 'DELETE',
    path: `${WF}/:workflowId`,
    operationId: 'deleteWorkflow',
    summary: 'Delete a workflow',
    tag: 'Registries',
    auth: 'api-key',
    ok: { 200: DeleteWorkflowResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'GET',
    path: MD,
    operationId: 'listModels',
    summary: 'Model ids of the workspace',
    tag: 'Registries',
    auth: 'api-key',
    ok: { 200: ListModelsResponse },
    errors: AUTH,
  },
  {
    method: 'GET',
    path: `${MD}/*`,
    wildcard: 'modelId',
    operationId: 'getModel',
    summary: 'A model record',
    tag: 'Registries',
    auth: 'api-key',
    ok: { 200: GetModelResponse },
    errors: [...AUTH, 404],
  },
  {
    method: 'PUT',
    path: `${MD}/*`,
    wildcard: 'modelId',
    operationId: 'putModel',
    summary: 'Upload an ONNX model (multipart: `weights` file, optional `config`)',
    tag: 'Registries',
    auth: 'api-key',
    body: { multipart: ModelUploadForm },
    ok: { 200: PutModelResponse },
    errors: WITH_BODY,
  },
  {
    method: 'DELETE',
    path: `${MD}/*`,
    wildcard: 'modelId',
    operationId: 'deleteModel',
    summary: 'Delete a model and its weights',
    tag: 'Registries',
    auth: 'api-key',
    ok: { 200: DeleteModelResponse },
    errors: [...AUTH, 404],
  },
  // ---- signed URLs
  {
    method: 'PUT',
    path: SIGNED,
    operationId: 'signedUpload',
    summary: 'Upload through a signed URL (a video or a tar shard)',
    tag: 'Signed URLs',
    auth: 'signed',
    query: signedQuery,
    body: { binary: 'the file' },
    ok: { 200: SignedUploadDone },
    errors: [400, 403, 404, 409, 413, 503],
  },
  {
    method: 'GET',
    path: SIGNED,
    operationId: 'signedDownload',
    summary: 'Download a file through a signed URL',
    tag: 'Signed URLs',
    auth: 'signed',
    query: signedQuery,
    ok: { 200: { raw: 'binary', description: 'the file' } },
    errors: [400, 403, 404, 503],
  },
  {
    method: 'HEAD',
    path: SIGNED,
    operationId: 'signedDownloadHead',
    summary: 'Size of a file behind a signed download URL',
    tag: 'Signed URLs',
    auth: 'signed',
    query: signedQuery,
    ok: { 200: { raw: 'none', description: 'headers only' } },
    errors: [400, 403, 404, 503],
  },
  // ---- visionbatch
  {
    method: 'GET',
    path: '/visionbatch/v1/:workspace/webhook-secret',
    operationId: 'webhookSecret',
    summary: "The Authorization value of the workspace's webhooks",
    tag: 'visionbatch',
    auth: 'api-key',
    ok: { 200: WebhookSecretResponse },
    errors: AUTH,
  },
  {
    method: 'GET',
    path: '/visionbatch/v1/:workspace/machines',
    operationId: 'machines',
    summary:
      "Worker pools (machine counts, autoscaler sizes, throughput) and the leases of the workspace's jobs",
    tag: 'visionbatch',
    auth: 'api-key',
    ok: { 200: MachinesResponse },
    errors: AUTH,
  },
  // ---- the API description and the console
  {
    method: 'GET',
    path: '/openapi.json',
    operationId: 'openapi',
    summary: 'This document (OpenAPI 3.1)',
    tag: 'visionbatch',
    auth: 'none',
    ok: { 200: { raw: 'json', description: 'the OpenAPI document' } },
    errors: [],
  },
  ...(
    [
      ['/docs', 'docs', 'The API reference (swagger-ui)'],
      ['/docs/assets/:version/:file', 'docsAsset', "The reference's scripts and styles"],
      ['/console', 'console', 'The web console'],
      ['/console/assets/:file', 'consoleAsset', "The console's scripts and styles"],
    ] as const
  ).map(
    ([path, operationId, summary]): RouteSpec => ({
      method: 'GET',
      path,
      operationId,
      summary,
      tag: 'visionbatch',
      auth: 'none',
      ok: { 200: { raw: 'html', description: summary } },
      errors: [404],
      internal: true,
    }),
  ),
];

/**
 * The table entry of a registered route (`HEAD` falls back to its `GET`, which fastify adds it
 * for); undefined when the route is not declared.
 */
export function routeSpecOf(method: string, path: string): RouteSpec | undefined {
  const find = (m: string) => ROUTES.find((r) => r.method === m && r.path === path);
  return find(method) ?? (method === 'HEAD' ? find('GET') : undefined);
}
