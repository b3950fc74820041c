import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import type { Task, TaskOutcome } from '@visionbatch/shared/tasks';
import { runExportTask } from './slot/export-task.ts';
import type { StartRunner, TaskRunner } from './task-runner.ts';

/**
 * A runner whose model step is a no-op, for control-plane simulations (`npm run bench --
 * control-plane`, the bounded-state test): a processing task writes its results file with one empty
 * prediction line per input file, an export task packs real archives. Everything around it — leases,
 * heartbeats, task locks, fenced writes, listings, export planning — is the real worker's.
 */
class SimulatedRunner implements TaskRunner {
  constructor(
    private readonly store: ObjectStore,
    private readonly workspace: string,
  ) {}

  async run(task: Task, onProgress: (done: number, total: number) => void): Promise<TaskOutcome> {
    if (task.kind === 'export') return runExportTask(this.store, this.workspace, task);
    const lines = task.input.files.map((f) => `${JSON.stringify({ image: f, predictions: [] })}\n`).join('');
    const key = objectKeys.batchFile(
      this.workspace,
      task.output.batchId,
      task.output.part,
      task.output.fileName,
    );
    const body = Buffer.from(lines);
    await this.store.put(key, body);
    onProgress(task.input.files.length, task.input.files.length);
    return {
      processed: task.input.files.length,
      failures: [],
      thresholdExceeded: false,
      outputKey: key,
      outputBytes: body.length,
    };
  }

  cancel(): void {}

  async abandon(): Promise<void> {}

  async close(): Promise<void> {}
}

/** Starts simulated runners writing into `store` (no threads, no models). */
export function simulatedRunner(store: ObjectStore): StartRunner {
  return async (_slots, init) => ({
    runner: new SimulatedRunner(store, init.context.workspace),
    modelLoadMs: 0,
  });
}
