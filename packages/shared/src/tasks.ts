import type { ModelRecord } from './registry-repo.ts';
import type { WorkflowProcessingJob } from './wire/batch-processing.ts';

/** Task payloads and job context shared by the scheduler (which plans them) and workers (which run them). */

/**
 * Everything a machine needs to run one job's tasks, sent by the scheduler with the lease
 * (`job_context_json`) and handed to every slot thread once.
 */
export interface JobContext {
  workspace: string;
  jobId: string;
  jobType: WorkflowProcessingJob['type'];
  /** bare workflow definition (spec/workflows.md §1.1) */
  workflow: Record<string, unknown>;
  /** registry records of every model the workflow names, keyed by the model_id as written */
  models: Record<string, ModelRecord>;
  workflowParameters: Record<string, unknown>;
  imageInputName: string | null;
  aggregationFormat: 'jsonl' | 'csv';
  persistImagesOutputs: boolean;
  imagesOutputsToBePersisted: string[] | null;
  maxVideoFPS: number | null;
  /** per-task failure threshold: a fraction of the task's files, or null for the default of 10 files */
  maxImageFailureRate: number | null;
  machineType: 'cpu' | 'gpu';
}

/** A processing task over staged images (BullMQ job data: a reference, never image bytes). */
export interface ImageTask {
  kind: 'images';
  stage: string;
  taskId: string;
  input: { batchId: string; part: string; files: string[] };
  /** where results go: one file `<taskId>.<jsonl|csv>` in part `results` of the stage's output batch */
  output: { batchId: string; part: string; fileName: string };
}

/**
 * A processing task over one staged video (or the frame range `input.range` of it, when the
 * workflow is stateless and the video is long enough to split).
 */
export interface VideoTask {
  kind: 'video';
  stage: string;
  taskId: string;
  input: { batchId: string; part: string; files: [string]; range: { start: number; end: number } | null };
  output: { batchId: string; part: string; fileName: string };
}

/**
 * Part of the processing stage's output batch (and of the export batch) that holds persisted
 * image outputs when the job sets `persistImagesOutputs`: JPEG files whose flat names encode
 * their key path (services/worker/src/slot/persisted-images.ts).
 */
export const IMAGES_PART = 'images';

/** An export task: packs result files into one archive of the export batch. */
export interface ExportTask {
  kind: 'export';
  stage: string;
  taskId: string;
  /**
   * `keyPaths`: the files are persisted images whose flat names encode key paths; archive
   * members are named by the decoded path (`<image>/<output>.jpg`) instead of the file name.
   */
  input: { batchId: string; part: string; files: string[]; keyPaths?: boolean };
  output: { batchId: string; part: string; fileName: string };
}

export type Task = ImageTask | VideoTask | ExportTask;

/** A file the task could not process, with a stable reason code. */
export interface FileFailure {
  file: string;
  reason: string;
  message: string;
}

/** What a slot reports when a task is done. */
export interface TaskOutcome {
  /** files that produced results */
  processed: number;
  failures: FileFailure[];
  /** true when failures exceed the job's threshold: the task failed for good */
  thresholdExceeded: boolean;
  /** object written (results file or archive); absent when nothing was written */
  outputKey?: string;
  outputBytes?: number;
  /** detections per class, for summaries */
  stats?: Record<string, number>;
  /** further files written into the output batch (persisted image outputs), to be listed there */
  extraFiles?: OutputFile[];
}

/** A file a task wrote into its output batch besides its main output. */
export interface OutputFile {
  part: string;
  fileName: string;
  size: number;
  /** batch content type of the file (`images`) */
  contentType: string;
}
