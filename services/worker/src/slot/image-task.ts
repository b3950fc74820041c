import { ImageDecodeError, WorkflowStepError } from '@visionbatch/engine/errors';
import { type DecodedImage, decodeImage } from '@visionbatch/engine/image-decode';
import type { ModelRuntime } from '@visionbatch/engine/model-runtime';
import { aggregateResults, type ResultRow } from '@visionbatch/engine/results-format';
import type { CompiledWorkflow } from '@visionbatch/engine/workflow/compiler';
import { executeImage, prepareImage } from '@visionbatch/engine/workflow/executor';
import { isSafeFileName } from '@visionbatch/shared/ids';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import { unitClock } from '@visionbatch/shared/tasks';
import { ImageOutputWriter } from './persisted-images.ts';
import type { FileFailure, ImageTask, JobContext, TaskOutcome, VideoTask } from './protocol.ts';

/**
 * An image task: fetch each staged image, decode it, run the workflow, and write the task's
 * aggregated results as one object with a deterministic key (a retried task overwrites it).
 * The next image is fetched and decoded (on libuv's pool) while the current one is in the model.
 */

/** Default failure threshold when the job gives no rate: more than 10 failed files fails the task. */
export const DEFAULT_MAX_FAILED_FILES = 10;

/** Progress messages at most every 200 ms (≤ 5/s). */
const PROGRESS_INTERVAL_MS = 200;

export interface ImageTaskDeps {
  store: ObjectStore;
  compiled: CompiledWorkflow;
  runtime: ModelRuntime;
  context: JobContext;
  /** progress callback (already throttled) */
  onProgress(done: number, total: number): void;
  /** true once the task should stop after the current image */
  cancelled(): boolean;
}

/** The task stopped early on request; nothing was written. */
export class TaskCancelledError extends Error {
  constructor(taskId: string) {
    super(`task ${taskId} was cancelled`);
    this.name = 'TaskCancelledError';
  }
}

function isNotFound(err: unknown): boolean {
  // by name, so stand-in stores in tests need not import the class
  return err instanceof Error && err.name === 'ObjectNotFoundError';
}

type Fetched =
  | { ok: true; image: DecodedImage }
  | { ok: false; failure: FileFailure }
  | { ok: false; fatal: unknown };

/** Fetches and decodes one file; never rejects (a store outage comes back as `fatal`). */
async function fetchImage(deps: ImageTaskDeps, task: ImageTask, file: string): Promise<Fetched> {
  const { context, store, compiled } = deps;
  if (!isSafeFileName(file))
    return { ok: false, failure: { file, reason: 'invalid-file-name', message: 'not a plain file name' } };
  let bytes: Buffer;
  try {
    bytes = await store.getBuffer(
      objectKeys.batchFile(context.workspace, task.input.batchId, task.input.part, file),
    );
  } catch (err) {
    if (isNotFound(err))
      return { ok: false, failure: { file, reason: 'not-found', message: 'the staged file does not exist' } };
    return { ok: false, fatal: err };
  }
  try {
    const image = await decodeImage(bytes, { full: compiled.pixelInputs.length > 0 });
    await prepareImage(compiled, image, { parameters: context.workflowParameters });
    return { ok: true, image };
  } catch (err) {
    if (err instanceof ImageDecodeError)
      return { ok: false, failure: { file, reason: err.reason, message: err.message } };
    return {
      ok: false,
      failure: { file, reason: 'corrupt-image', message: err instanceof Error ? err.message : String(err) },
    };
  }
}

function failureOf(file: string, err: unknown): FileFailure {
  if (err instanceof ImageDecodeError) return { file, reason: err.reason, message: err.message };
  // pixels that fail to decode inside a step (a crop of a lazily decoded image) keep their reason
  if (err instanceof WorkflowStepError && err.cause instanceof ImageDecodeError)
    return { file, reason: err.cause.reason, message: err.cause.message };
  if (err instanceof WorkflowStepError) return { file, reason: err.reason, message: err.message };
  return { file, reason: 'processing-failed', message: err instanceof Error ? err.message : String(err) };
}

/** Whether failures exceed the job's threshold (a fraction of the task's files, else 10 files). */
export function thresholdExceeded(
  failures: number,
  files: number,
  maxImageFailureRate: number | null,
): boolean {
  if (maxImageFailureRate !== null && maxImageFailureRate !== undefined)
    return failures > maxImageFailureRate * files;
  return failures > DEFAULT_MAX_FAILED_FILES;
}

/**
 * Runs one image task.
 * @throws TaskCancelledError when cancelled; the store's error when it cannot be reached
 */
export async function runImageTask(deps: ImageTaskDeps, task: ImageTask): Promise<TaskOutcome> {
  const { context, compiled, runtime, store } = deps;
  const files = task.input.files;
  const rows: ResultRow[] = [];
  const failures: FileFailure[] = [];
  const stats: Record<string, number> = {};
  const imageOutputs = new ImageOutputWriter(store, context, task.output.batchId);
  let lastProgress = Number.NEGATIVE_INFINITY;
  const clock = unitClock();
  let next: Promise<Fetched> | null = files.length > 0 ? fetchImage(deps, task, files[0]) : null;
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    const fetched = await (next as Promise<Fetched>);
    // start the next fetch + decode before this image's inference blocks the thread
    next = i + 1 < files.length ? fetchImage(deps, task, files[i + 1]) : null;
    if (fetched.ok) {
      try {
        const res = await executeImage(compiled, runtime, fetched.image, {
          imageInputName: context.imageInputName,
          parameters: context.workflowParameters,
        });
        await imageOutputs.add(file, res.images);
        rows.push({ image: file, result: res.output });
        for (const [c, n] of Object.entries(res.detectionsByClass)) stats[c] = (stats[c] ?? 0) + n;
      } catch (err) {
        failures.push(failureOf(file, err));
      }
    } else if ('failure' in fetched) {
      failures.push(fetched.failure);
    } else {
      throw fetched.fatal;
    }
    clock.unit();
    const now = performance.now();
    if (now - lastProgress >= PROGRESS_INTERVAL_MS || i + 1 === files.length) {
      lastProgress = now;
      deps.onProgress(i + 1, files.length);
    }
    if (deps.cancelled() && i + 1 < files.length) {
      await next; // let the prefetch settle; it never rejects
      throw new TaskCancelledError(task.taskId);
    }
  }
  const written = await writeTaskOutput(deps, task, rows, imageOutputs);
  return {
    processed: rows.length,
    failures,
    thresholdExceeded: thresholdExceeded(failures.length, files.length, context.maxImageFailureRate),
    stats,
    ...written,
    timing: clock.result(),
  };
}

/**
 * Ends a task's output: waits for its persisted image outputs, then writes its aggregated result
 * rows (JSONL or CSV) under the task's deterministic key (a retry overwrites the same object).
 */
export async function writeTaskOutput(
  deps: Pick<ImageTaskDeps, 'context' | 'store'>,
  task: ImageTask | VideoTask,
  rows: ResultRow[],
  imageOutputs: ImageOutputWriter,
): Promise<Pick<TaskOutcome, 'outputKey' | 'outputBytes' | 'extraFiles'>> {
  const extraFiles = await imageOutputs.finish();
  const { body, contentType } = aggregateResults(rows, deps.context.aggregationFormat);
  const outputKey = objectKeys.batchFile(
    deps.context.workspace,
    task.output.batchId,
    task.output.part,
    task.output.fileName,
  );
  await deps.store.put(outputKey, body, { contentType, size: body.length });
  return { outputKey, outputBytes: body.length, extraFiles };
}
