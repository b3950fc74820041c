import { randomInt } from 'node:crypto';
import { CliError } from './cli-error.ts';

/** Deprecated `--machine-size` → workers per machine, as Roboflow's client maps it. */
export const MACHINE_SIZE_WORKERS: Readonly<Record<string, number>> = { xs: 8, s: 4, m: 2, l: 1, xl: 1 };

/** Options shared by image and video workflow jobs (spec §6.2). */
export interface WorkflowJobOptions {
  batchId: string;
  workflowId: string;
  /** Parsed `--workflow-params` file. */
  workflowParameters?: Record<string, unknown>;
  imageInputName?: string;
  saveImageOutputs?: boolean;
  imageOutputsToSave?: string[];
  partName?: string;
  machineType?: 'cpu' | 'gpu';
  workersPerMachine?: number;
  machineSize?: string;
  maxRuntimeSeconds?: number;
  maxParallelTasks?: number;
  aggregationFormat?: 'csv' | 'jsonl';
  notificationsUrl?: string;
  inferenceBackend?: 'old-inference' | 'inference-models';
}

/** Image jobs add metadata inputs and the failure-rate threshold. */
export interface ImageJobOptions extends WorkflowJobOptions {
  imagesMetadataPartName?: string;
  maxImageFailureRate?: number;
  /** `input=metadata_key` pairs. */
  metadataMapping?: string[];
}

/** Video jobs add the frame rate cap. */
export interface VideoJobOptions extends WorkflowJobOptions {
  maxVideoFps?: number;
}

const JOB_ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `job-` + 12 random `[a-z0-9]` characters (16 in all; job ids may have 20). */
export function generateJobId(prefix = 'job-'): string {
  let s = prefix;
  for (let i = 0; i < 12; i++) s += JOB_ID_ALPHABET[randomInt(JOB_ID_ALPHABET.length)];
  return s;
}

/** Drops `undefined` values, keeping key order (the client never sends nulls at the top level). */
function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkRate(v: number | undefined, option: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(v) || v < 0 || v > 1)
    throw new CliError(`${option} must be between 0.0 and 1.0, got ${v}`);
  return v;
}

function checkPositiveInt(v: number | undefined, option: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1) throw new CliError(`${option} must be a positive integer, got ${v}`);
  return v;
}

/** `ComputeConfigurationV2`: `--workers-per-machine` wins over the deprecated `--machine-size`. */
export function computeConfiguration(
  o: Pick<WorkflowJobOptions, 'machineType' | 'workersPerMachine' | 'machineSize'>,
): Record<string, unknown> {
  let workers = checkPositiveInt(o.workersPerMachine, '--workers-per-machine');
  if (workers === undefined && o.machineSize !== undefined) {
    workers = MACHINE_SIZE_WORKERS[o.machineSize];
    if (workers === undefined)
      throw new CliError(`--machine-size must be one of ${Object.keys(MACHINE_SIZE_WORKERS).join(', ')}`);
  }
  if (o.machineType !== undefined && o.machineType !== 'cpu' && o.machineType !== 'gpu') {
    throw new CliError(`--machine-type must be cpu or gpu, got ${o.machineType}`);
  }
  return compact({
    type: 'compute-configuration-v2',
    machineType: o.machineType,
    workersPerMachine: workers,
  });
}

/** `input=metadata_key` pairs → `imagesMetadataInputsMapping`. */
export function parseMetadataMapping(
  pairs: readonly string[] | undefined,
): Record<string, string> | undefined {
  if (!pairs?.length) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0 || i === p.length - 1)
      throw new CliError(`--metadata-mapping expects input=metadata_key, got "${p}"`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

function specification(
  o: WorkflowJobOptions,
  workspace: string,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  return compact({
    type: 'workflows-processing-specification-v1',
    workspace,
    workflowId: o.workflowId,
    workflowParameters: o.workflowParameters,
    imageInputName: o.imageInputName,
    persistImagesOutputs: Boolean(o.saveImageOutputs),
    imagesOutputsToBePersisted: o.imageOutputsToSave?.length ? [...o.imageOutputsToSave] : undefined,
    aggregationFormat: o.aggregationFormat,
    ...extra,
  });
}

/** The `simple-image-processing-v1` job definition exactly as §3.4 lays it out (field order included). */
export function buildImageJobBody(o: ImageJobOptions, workspace: string): Record<string, unknown> {
  const mapping = parseMetadataMapping(o.metadataMapping);
  return compact({
    type: 'simple-image-processing-v1',
    jobInput: compact({
      type: 'staging-batch-input-v1',
      batchId: o.batchId,
      partName: o.partName,
      imagesMetadataPart: o.imagesMetadataPartName,
    }),
    computeConfiguration: computeConfiguration(o),
    processingTimeoutSeconds: checkPositiveInt(o.maxRuntimeSeconds, '--max-runtime-seconds'),
    maxParallelTasks: checkPositiveInt(o.maxParallelTasks, '--max-parallel-tasks'),
    maxImageFailureRate: checkRate(o.maxImageFailureRate, '--max-image-failure-rate'),
    processingSpecification: specification(o, workspace, { imagesMetadataInputsMapping: mapping }),
    notificationsURL: o.notificationsUrl,
    inferenceBackend: o.inferenceBackend,
  });
}

/** The `simple-video-processing-v1` job definition (§3.4). */
export function buildVideoJobBody(o: VideoJobOptions, workspace: string): Record<string, unknown> {
  return compact({
    type: 'simple-video-processing-v1',
    jobInput: compact({ type: 'staging-batch-input-v1', batchId: o.batchId, partName: o.partName }),
    computeConfiguration: computeConfiguration(o),
    processingTimeoutSeconds: checkPositiveInt(o.maxRuntimeSeconds, '--max-runtime-seconds'),
    maxParallelTasks: checkPositiveInt(o.maxParallelTasks, '--max-parallel-tasks'),
    processingSpecification: specification(o, workspace, {
      maxVideoFPS: checkPositiveInt(o.maxVideoFps, '--max-video-fps'),
    }),
    notificationsURL: o.notificationsUrl,
    inferenceBackend: o.inferenceBackend,
  });
}

/** Options of `restart-job`. */
export interface RestartOptions {
  machineType?: 'cpu' | 'gpu';
  workersPerMachine?: number;
  maxRuntimeSeconds?: number;
  maxParallelTasks?: number;
  maxImageFailureRate?: number;
}

/**
 * The `parameters-override-v1` body of a restart (§3.8), or `undefined` when nothing is overridden
 * (the request then has no body). A `workersPerMachine` of 0 is dropped, as the client does.
 */
export function buildRestartBody(o: RestartOptions): Record<string, unknown> | undefined {
  const workers = o.workersPerMachine
    ? checkPositiveInt(o.workersPerMachine, '--workers-per-machine')
    : undefined;
  const compute =
    o.machineType !== undefined || workers !== undefined
      ? computeConfiguration({ machineType: o.machineType, workersPerMachine: workers })
      : undefined;
  const body = compact({
    type: 'parameters-override-v1',
    computeConfiguration: compute,
    maxParallelTasks: checkPositiveInt(o.maxParallelTasks, '--max-parallel-tasks'),
    processingTimeoutSeconds: checkPositiveInt(o.maxRuntimeSeconds, '--max-runtime-seconds'),
    maxImageFailureRate: checkRate(o.maxImageFailureRate, '--max-image-failure-rate'),
  });
  return Object.keys(body).length > 1 ? body : undefined;
}
