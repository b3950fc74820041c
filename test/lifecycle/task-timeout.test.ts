/**
 * A task attempt that runs past VB_TASK_TIMEOUT_S (a hung decode, a store call that never returns)
 * fails instead of holding its slot for good: the slot is abandoned and replaced, the attempt is
 * retried, and the job ends with each task done once.
 */
import { describe, expect, it } from 'vitest';
import type { Task, TaskOutcome } from '../../packages/shared/src/tasks.ts';
import { simulatedRunner } from '../../services/worker/src/simulated-runner.ts';
import type { StartRunner } from '../../services/worker/src/task-runner.ts';
import { useRedisTestDb, useTempDir, waitFor } from '../support/helpers.ts';
import { startHarness, WS } from './harness.ts';

const redisUrl = useRedisTestDb();

describe('task timeout', () => {
  it('abandons a hung attempt after VB_TASK_TIMEOUT_S, retries it, and the job succeeds', async () => {
    const h = await startHarness(redisUrl, await useTempDir('vb-task-timeout-'));
    const abandoned: string[] = [];
    let hungOnce = false;
    // the simulated runner, except that the first processing attempt never returns
    const hanging: StartRunner = async (slots, init, logger) => {
      const { runner } = await simulatedRunner(h.store)(slots, init, logger);
      return {
        runner: {
          run: (task: Task, onProgress: (d: number, t: number) => void): Promise<TaskOutcome> => {
            if (task.kind !== 'export' && !hungOnce) {
              hungOnce = true;
              return new Promise(() => {});
            }
            return runner.run(task, onProgress);
          },
          cancel: () => runner.cancel(),
          abandon: async (taskId: string) => {
            abandoned.push(taskId);
          },
          close: () => runner.close(),
        },
      };
    };
    const machines = h.startMachines(1, { startRunner: hanging, env: { VB_TASK_TIMEOUT_S: '1' } });
    try {
      await h.stageImages('in', 4);
      await h.createJob('slow', 'in');
      const rec = await waitFor(
        async () => {
          await h.driver.drive(WS, 'slow');
          const r = await h.jobs.get(WS, 'slow');
          return r?.isTerminal ? r : null;
        },
        { timeoutMs: 30_000, intervalMs: 100, message: 'job ended' },
      );
      expect(rec.state).toBe('succeeded');
      expect(abandoned).toHaveLength(1);
      const tasks = (await h.jobs.tasks(WS, 'slow', 'processing', null, 100)).items;
      expect(tasks.every((t) => t.state === 'succeeded')).toBe(true);
      const logs = (await h.jobs.logs(WS, 'slow', null, null, 100)).items.map((l) => l.logType);
      expect(logs).not.toContain('task-failed');
    } finally {
      await machines.stop();
      await h.close();
    }
  }, 60_000);
});
