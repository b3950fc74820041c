import {
  ExecutionProviderUnavailableError,
  ModelMismatchError,
  WorkflowCompileError,
} from '@visionbatch/engine/errors';
import { OrtModelRuntime } from '@visionbatch/engine/model-runtime';
import { type CompiledWorkflow, compileWorkflow } from '@visionbatch/engine/workflow/compiler';
import { pickImageInput } from '@visionbatch/engine/workflow/executor';
import type { StoreConfig } from '@visionbatch/shared/config';
import { PermanentTaskError } from '@visionbatch/shared/errors';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import { runExportTask } from './export-task.ts';
import { runImageTask, TaskCancelledError } from './image-task.ts';
import type { FromSlot, JobContext, Task, TaskOutcome, ToSlot } from './protocol.ts';
import { runVideoTask } from './video-task.ts';
import { loadWeights } from './weights-cache.ts';

/**
 * The logic of one slot thread, independent of `worker_threads`: it takes {@link ToSlot} messages
 * and answers with {@link FromSlot} messages through `post`. Messages are handled one at a time in
 * arrival order, except `cancel`, which takes effect at once (the running task stops after its
 * current image).
 */

export interface SlotRunnerDeps {
  /** posts a message to the main thread */
  post(message: FromSlot): void;
  /** opens the object store of an `init` message */
  openStore(config: StoreConfig): Promise<ObjectStore>;
}

/** What `init` prepared: everything a task needs except the models, loaded on first use. */
interface Job {
  context: JobContext;
  store: ObjectStore;
  compiled: CompiledWorkflow;
  /** weights cache folder and session threads, for the model load */
  cacheDir: string;
  intraOpNumThreads: number;
}

/**
 * The job's models could not be loaded (weights missing or corrupt, a shape the record does not
 * match, no CUDA): every task that needs them fails the same way, so retrying is pointless.
 */
class ModelLoadError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'ModelLoadError';
  }
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Errors that retrying the task cannot fix. */
function isPermanent(err: unknown): boolean {
  return (
    err instanceof PermanentTaskError ||
    err instanceof ModelLoadError ||
    err instanceof WorkflowCompileError ||
    err instanceof ModelMismatchError ||
    err instanceof ExecutionProviderUnavailableError ||
    (err instanceof Error && err.name === 'InvalidObjectKeyError')
  );
}

export class SlotRunner {
  private queue: Promise<void> = Promise.resolve();
  private job: Job | null = null;
  /** the job's models, loaded by the first task that needs them (an export task never does) */
  private runtime: Promise<OrtModelRuntime> | null = null;
  /** tasks are numbered as they arrive; a cancel covers every task received before it */
  private received = 0;
  private cancelledUpTo = 0;

  constructor(private readonly deps: SlotRunnerDeps) {}

  /** Accepts one message from the main thread. */
  handle(msg: ToSlot): void {
    if (msg.type === 'cancel') {
      // covers the running task and any queued behind it; a cancel while idle affects nothing later
      this.cancelledUpTo = this.received;
      return;
    }
    if (msg.type === 'init') {
      this.queue = this.queue.then(() => this.init(msg));
      return;
    }
    const seq = ++this.received;
    this.queue = this.queue.then(() => this.task(msg.task, () => seq <= this.cancelledUpTo));
  }

  /** Resolves when every message received so far has been handled. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Releases the sessions and the store. */
  async close(): Promise<void> {
    await this.queue;
    if (this.job) {
      const runtime = await this.runtime?.catch(() => null);
      await runtime?.release();
      await this.job.store.close?.();
      this.job = null;
      this.runtime = null;
    }
  }

  /** Compiles the workflow and opens the store; the models wait for a task that needs them. */
  private async init(msg: Extract<ToSlot, { type: 'init' }>): Promise<void> {
    try {
      const { context } = msg;
      // compile first: a bad definition fails before the store is opened
      const compiled = compileWorkflow(context.workflow, {
        models: context.models,
        parameters: context.workflowParameters,
      });
      pickImageInput(compiled, context.imageInputName);
      const store = await this.deps.openStore(msg.store);
      this.job = {
        context,
        store,
        compiled,
        cacheDir: msg.cacheDir,
        intraOpNumThreads: msg.intraOpNumThreads,
      };
      this.deps.post({ type: 'ready' });
    } catch (err) {
      this.deps.post({ type: 'init-failed', message: message(err) });
    }
  }

  /**
   * The job's models, loaded once per slot: a lease whose tasks are all exports (a job's last
   * stage) never pays for it. A failed load is kept, so every later task fails the same way.
   */
  private models(job: Job): Promise<OrtModelRuntime> {
    if (!this.runtime) {
      const t0 = performance.now();
      this.runtime = OrtModelRuntime.load(
        job.context.models,
        (record) => loadWeights(job.store, record, job.cacheDir),
        { machineType: job.context.machineType, intraOpNumThreads: job.intraOpNumThreads },
      ).then(
        (runtime) => {
          this.deps.post({ type: 'models-loaded', modelLoadMs: Math.round(performance.now() - t0) });
          return runtime;
        },
        (err) => {
          throw new ModelLoadError(err);
        },
      );
    }
    return this.runtime;
  }

  private async task(task: Task, cancelled: () => boolean): Promise<void> {
    const job = this.job;
    if (!job) {
      this.deps.post({
        type: 'error',
        taskId: task.taskId,
        message: 'the slot has not been initialised',
        permanent: false,
      });
      return;
    }
    try {
      if (cancelled()) throw new TaskCancelledError(task.taskId);
      let outcome: TaskOutcome;
      if (task.kind === 'export') {
        outcome = await runExportTask(job.store, job.context.workspace, task);
      } else {
        const taskDeps = {
          store: job.store,
          compiled: job.compiled,
          runtime: await this.models(job),
          context: job.context,
          onProgress: (done: number, total: number) =>
            this.deps.post({ type: 'progress', taskId: task.taskId, done, total }),
          cancelled,
        };
        outcome =
          task.kind === 'video' ? await runVideoTask(taskDeps, task) : await runImageTask(taskDeps, task);
      }
      this.deps.post({ type: 'done', taskId: task.taskId, outcome });
    } catch (err) {
      if (err instanceof TaskCancelledError) {
        this.deps.post({ type: 'error', taskId: task.taskId, message: err.message, permanent: false });
        return;
      }
      this.deps.post({
        type: 'error',
        taskId: task.taskId,
        message: message(err),
        permanent: isPermanent(err),
      });
    }
  }
}
