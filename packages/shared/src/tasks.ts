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
  /**
   * the sample job of a cost estimate: its machines log their model loading time and each task's
   * unit timings (estimate/measure.ts reads them back)
   */
  estimate?: boolean;
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
  /** wall times of the task's units (images, or processed video frames) in its slot */
  timing?: UnitTiming;
}

/** How long the units of a task took in its slot, from the slot's point of view (ms). */
export interface UnitTiming {
  units: number;
  /** the first unit: its fetch and decode overlap nothing */
  firstMs: number;
  /** every other unit, summed (each one's fetch overlaps the previous one's inference) */
  restMs: number;
  minMs: number;
  maxMs: number;
}

/** Collects {@link UnitTiming}: `unit()` after each unit, measured from the previous call (or the start). */
export function unitClock(now: () => number = () => performance.now()) {
  let last = now();
  const t: UnitTiming = { units: 0, firstMs: 0, restMs: 0, minMs: 0, maxMs: 0 };
  return {
    unit(): void {
      const at = now();
      const ms = at - last;
      last = at;
      if (t.units === 0) {
        t.firstMs = ms;
        t.minMs = ms;
      } else t.restMs += ms;
      t.units++;
      t.minMs = Math.min(t.minMs, ms);
      t.maxMs = Math.max(t.maxMs, ms);
    },
    result: (): UnitTiming => ({ ...t }),
  };
}

/** A file a task wrote into its output batch besides its main output. */
export interface OutputFile {
  part: string;
  fileName: string;
  size: number;
  /** batch content type of the file (`images`) */
  contentType: string;
}
