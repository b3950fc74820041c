import type { StoreConfig } from '@visionbatch/shared/config';
import type { Logger } from '@visionbatch/shared/logger';
import type { JobContext, Task, TaskOutcome } from '@visionbatch/shared/tasks';
import { SlotPool } from './slot-pool.ts';

/**
 * What runs a lease's tasks on a machine: slot threads with the job's models ({@link SlotPool}), or
 * a stand-in whose model step is a no-op for control-plane simulations (simulated-runner.ts). The
 * machine around it (leases, heartbeats, task locks, fenced writes) is the same either way.
 */
export interface TaskRunner {
  run(task: Task, onProgress: (done: number, total: number) => void): Promise<TaskOutcome>;
  /** asks running tasks to stop after their current file */
  cancel(): void;
  /** gives up a task that ran past its deadline (its run rejects) and frees its slot */
  abandon(taskId: string, reason: string): Promise<void>;
  close(): Promise<void>;
}

export interface RunnerInit {
  context: JobContext;
  store: StoreConfig;
  intraOpNumThreads: number;
  cacheDir: string;
}

/**
 * Starts a lease's runner with `slots` slots. Models load on a slot's first task that needs them;
 * `onModelsLoaded` hears how long each load took.
 */
export type StartRunner = (
  slots: number,
  init: RunnerInit,
  logger: Logger,
  onModelsLoaded?: (ms: number) => void,
) => Promise<{ runner: TaskRunner }>;

/** The real runner: one slot thread per slot, loading the job's models when a task needs them. */
export const startSlotPool: StartRunner = async (slots, init, logger, onModelsLoaded) => {
  const { pool } = await SlotPool.start(slots, init, logger, onModelsLoaded);
  return { runner: pool };
};
