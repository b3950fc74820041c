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
import type { FromSlot, JobContext, Task, ToSlot } from './protocol.ts';
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

interface Loaded {
  context: JobContext;
  store: ObjectStore;
  runtime: OrtModelRuntime;
  compiled: CompiledWorkflow;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Errors that retrying the task cannot fix. */
function isPermanent(err: unknown): boolean {
  return (
    err instanceof PermanentTaskError ||
    err instanceof WorkflowCompileError ||
    err instanceof ModelMismatchError ||
    err instanceof ExecutionProviderUnavailableError ||
    (err instanceof Error && err.name === 'InvalidObjectKeyError')
  );
}

export class SlotRunner {
  private queue: Promise<void> = Promise.resolve();
  private loaded: Loaded | null = null;
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
    if (this.loaded) {
      await this.loaded.runtime.release();
      await this.loaded.store.close?.();
      this.loaded = null;
    }
  }

  private async init(msg: Extract<ToSlot, { type: 'init' }>): Promise<void> {
    const t0 = performance.now();
    let store: ObjectStore | null = null;
    try {
      const { context } = msg;
      // compile first: a bad definition fails before any download
      const compiled = compileWorkflow(context.workflow, {
        models: context.models,
        parameters: context.workflowParameters,
      });
      pickImageInput(compiled, context.imageInputName);
      const openedStore = await this.deps.openStore(msg.store);
      store = openedStore;
      const runtime = await OrtModelRuntime.load(
        context.models,
        (record) => loadWeights(openedStore, record, msg.cacheDir),
        {
          machineType: context.machineType,
          intraOpNumThreads: msg.intraOpNumThreads,
        },
      );
      this.loaded = { context, store: openedStore, runtime, compiled };
      this.deps.post({ type: 'ready', modelLoadMs: Math.round(performance.now() - t0) });
    } catch (err) {
      await store?.close?.().catch(() => {});
      this.deps.post({ type: 'init-failed', message: message(err) });
    }
  }

  private async task(task: Task, cancelled: () => boolean): Promise<void> {
    const loaded = this.loaded;
    if (!loaded) {
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
      const taskDeps = {
        store: loaded.store,
        compiled: loaded.compiled,
        runtime: loaded.runtime,
        context: loaded.context,
        onProgress: (done: number, total: number) =>
          this.deps.post({ type: 'progress', taskId: task.taskId, done, total }),
        cancelled,
      };
      const outcome =
        task.kind === 'export'
          ? await runExportTask(loaded.store, loaded.context.workspace, task)
          : task.kind === 'video'
            ? await runVideoTask(taskDeps, task)
            : await runImageTask(taskDeps, task);
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
