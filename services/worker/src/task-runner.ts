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
  close(): Promise<void>;
}

export interface RunnerInit {
  context: JobContext;
  store: StoreConfig;
  intraOpNumThreads: number;
  cacheDir: string;
}

/** Starts a lease's runner with `slots` slots; answers it and how long loading the models took. */
export type StartRunner = (
  slots: number,
  init: RunnerInit,
  logger: Logger,
) => Promise<{ runner: TaskRunner; modelLoadMs: number }>;

/** The real runner: one slot thread per slot, each with the job's models loaded. */
export const startSlotPool: StartRunner = async (slots, init, logger) => {
  const { pool, modelLoadMs } = await SlotPool.start(slots, init, logger);
  return { runner: pool, modelLoadMs };
};
