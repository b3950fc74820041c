import { Worker } from 'node:worker_threads';
import type { StoreConfig } from '@visionbatch/shared/config';
import type { Logger } from '@visionbatch/shared/logger';
import type { FromSlot, JobContext, Task, TaskOutcome, ToSlot } from './slot/protocol.ts';

/** Raised when a slot reports a task error; `permanent` errors are not worth a retry. */
export class SlotTaskError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'SlotTaskError';
  }
}

interface Slot {
  thread: Worker;
  busy: boolean;
  current: {
    taskId: string;
    resolve: (o: TaskOutcome) => void;
    reject: (e: Error) => void;
    onProgress: (done: number, total: number) => void;
  } | null;
  /** Settles when the slot's current task has ended (either way). */
  running?: Promise<void> | null;
}

/**
 * A machine's task slots: one worker thread each, so decode and inference (onnxruntime's
 * `run()` blocks its thread) never stall the main thread, which renews BullMQ locks, heartbeats
 * the lease and serves /metrics.
 */
/** What every slot thread of a pool is started with. */
type SlotInit = { context: JobContext; store: StoreConfig; intraOpNumThreads: number; cacheDir: string };

export class SlotPool {
  private readonly slots: Slot[] = [];

  private constructor(
    private readonly init: SlotInit,
    private readonly logger: Logger,
    private readonly onModelsLoaded: (ms: number) => void,
  ) {}

  /**
   * Starts `count` slot threads and waits until each has compiled the job's workflow and opened
   * the store. Models are loaded by each slot on its first task that needs them (never for an
   * export task); `onModelsLoaded` hears of every such load with its duration.
   */
  static async start(
    count: number,
    init: SlotInit,
    logger: Logger,
    onModelsLoaded: (ms: number) => void = () => {},
  ): Promise<{ pool: SlotPool }> {
    const pool = new SlotPool(init, logger, onModelsLoaded);
    await Promise.all(Array.from({ length: count }, () => pool.spawn())).catch(async (err) => {
      await pool.close();
      throw err;
    });
    return { pool };
  }

  /** Starts one slot thread; resolves once it is ready for tasks. */
  private async spawn(): Promise<void> {
    const thread = new Worker(new URL('./slot/slot-thread-entry.mjs', import.meta.url));
    const slot: Slot = { thread, busy: false, current: null };
    this.slots.push(slot);
    const ready = new Promise<void>((resolve, reject) => {
      const onMsg = (m: FromSlot) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'init-failed') reject(new SlotTaskError(m.message, true));
      };
      thread.on('message', onMsg);
      thread.once('error', reject);
      thread.once('exit', (code) => reject(new Error(`slot thread exited during start-up (code ${code})`)));
    });
    thread.on('message', (m: FromSlot) => this.onMessage(slot, m));
    thread.on('error', (err) => this.onCrash(slot, err));
    thread.postMessage({ type: 'init', ...this.init } satisfies ToSlot);
    return ready;
  }

  /**
   * Gives up a task that ran past its deadline: its promise rejects with `reason`, its thread is
   * told to terminate but not waited for (a thread inside onnxruntime's `run()`, or stuck on a
   * call that never returns, ends only when that call does), and a fresh slot thread takes its
   * place, so the machine keeps its slot count.
   */
  async abandon(taskId: string, reason: string): Promise<void> {
    const slot = this.slots.find((s) => s.current?.taskId === taskId);
    if (!slot) return;
    this.slots.splice(this.slots.indexOf(slot), 1);
    slot.current?.reject(new SlotTaskError(reason, false));
    void slot.thread.terminate().catch(() => {});
    this.logger.warn(
      { taskId, reason },
      'slot abandoned: its task ran past the deadline; a new slot replaces it',
    );
    await this.spawn();
  }

  get size(): number {
    return this.slots.length;
  }

  /** Runs a task on a free slot (BullMQ's concurrency equals the slot count, so one is free). */
  run(task: Task, onProgress: (done: number, total: number) => void): Promise<TaskOutcome> {
    const slot = this.slots.find((s) => !s.busy);
    if (!slot) return Promise.reject(new SlotTaskError('no free slot', false));
    slot.busy = true;
    const running = new Promise<TaskOutcome>((resolve, reject) => {
      slot.current = { taskId: task.taskId, resolve, reject, onProgress };
      slot.thread.postMessage({ type: 'task', task } satisfies ToSlot);
    }).finally(() => {
      slot.busy = false;
      slot.current = null;
      slot.running = null;
    });
    slot.running = running.then(
      () => undefined,
      () => undefined,
    );
    return running;
  }

  private onMessage(slot: Slot, m: FromSlot): void {
    if (m.type === 'models-loaded') {
      this.onModelsLoaded(m.modelLoadMs);
      return;
    }
    const cur = slot.current;
    if (!cur) return;
    if (m.type === 'progress' && m.taskId === cur.taskId) cur.onProgress(m.done, m.total);
    else if (m.type === 'done' && m.taskId === cur.taskId) cur.resolve(m.outcome);
    else if (m.type === 'error' && m.taskId === cur.taskId)
      cur.reject(new SlotTaskError(m.message, m.permanent));
  }

  private onCrash(slot: Slot, err: Error): void {
    this.logger.error({ err }, 'slot thread crashed');
    slot.current?.reject(new SlotTaskError(`slot crashed: ${err.message}`, false));
  }

  /** Asks running tasks to stop after their current image. */
  cancel(): void {
    for (const s of this.slots) s.thread.postMessage({ type: 'cancel' } satisfies ToSlot);
  }

  /**
   * Terminates the slot threads. A thread terminated while onnxruntime is inside `run()` can hang
   * `terminate()` for good, so running tasks (cancelled first by the caller, they stop after their
   * current image) are given up to `graceMs` to end before the threads go.
   */
  async close(graceMs = 15_000): Promise<void> {
    const running = this.slots.map((s) => s.running).filter((p): p is Promise<void> => !!p);
    if (running.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(running), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    await Promise.all(this.slots.map((s) => s.thread.terminate()));
    this.slots.length = 0;
  }
}
