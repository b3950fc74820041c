/**
 * Crash safety over real processes, on a dedicated AOF Redis child (so it may be restarted):
 * (a) a worker SIGKILLed mid-task: the task runs again and every input appears exactly once;
 * (b) the scheduler SIGKILLed mid-job: a restarted scheduler finishes the job;
 * (c) Redis killed and restarted mid-job: the job finishes with nothing lost;
 * (d) abort mid-processing: terminal within 10 s and no task starts afterwards;
 * (e) restart after abort: only unfinished tasks run again.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTempDir, waitFor } from '../support/helpers.ts';
import {
  bp,
  createJob,
  expectEachOnce,
  exportResults,
  processingTasks,
  registerSlowModel,
  slowJobBody,
  stageImages,
  startStack,
  waitTerminal,
} from './e2e-support.ts';
import { RedisChild } from './redis-child.ts';
import type { Stack } from './stack.ts';

const IMAGES = 40;
const PER_TASK = 10;

describe('crash safety', () => {
  let stack: Stack;
  let redis: RedisChild;
  let dir: string;
  let files: string[] = [];

  beforeAll(async () => {
    dir = await useTempDir('vb-e2e-crash-');
    const redisDir = path.join(dir, 'redis');
    fs.mkdirSync(redisDir, { recursive: true });
    redis = await RedisChild.start(redisDir);
    stack = await startStack(
      redis.url,
      path.join(dir, 'data'),
      { VB_IMAGES_PER_TASK: String(PER_TASK), VB_WORKER_SLOTS: '1' },
      2,
    );
    await registerSlowModel(stack, dir);
    files = (await stageImages(stack, dir, 'crash-in', IMAGES, 5)).files;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    if (process.env.VB_E2E_KEEP_LOGS && stack)
      fs.cpSync(path.join(stack.env.VB_DATA_DIR, 'logs'), process.env.VB_E2E_KEEP_LOGS, { recursive: true });
    await redis?.stop();
  });

  async function expectAllOnce(jobId: string): Promise<void> {
    const rows = await exportResults(stack, jobId, path.join(dir, `out-${jobId}`));
    expect(expectEachOnce(rows, files)).toEqual({ dupes: [], missing: [], extra: [] });
    expect(rows).toHaveLength(IMAGES);
  }

  async function waitForTasks(jobId: string, pred: (ts: any[]) => boolean, message: string): Promise<any[]> {
    let out: any[] = [];
    await waitFor(
      async () => {
        out = [...(await processingTasks(stack, jobId).catch(() => new Map())).values()];
        return pred(out);
      },
      { timeoutMs: 60_000, intervalMs: 50, message },
    );
    return out;
  }

  it('(a) a worker killed mid-task: its task runs again, every file appears exactly once', async () => {
    await createJob(stack, 'crash-a', slowJobBody(stack, 'crash-in'));
    const ts = await waitForTasks(
      'crash-a',
      (t) => t.some((x) => x.statusType === 'info' && String(x.notification).includes('worker-1')),
      'a task running on worker-1',
    );
    const victim = ts.find((x) => x.statusType === 'info' && String(x.notification).includes('worker-1'));
    await stack.kill('worker-1', 'SIGKILL');
    const job = await waitTerminal(stack, 'crash-a', 90_000);
    expect(job.error).toBe(false);
    const final = await processingTasks(stack, 'crash-a');
    expect(final.get(victim.taskId)?.statusType).toBe('success');
    expect([...final.values()].every((t) => t.statusType === 'success')).toBe(true);
    await expectAllOnce('crash-a');
    await stack.start('worker', 'worker-1');
  }, 120_000);

  it('(b) the scheduler killed mid-job: a restarted scheduler finishes it', async () => {
    await createJob(stack, 'crash-b', slowJobBody(stack, 'crash-in'));
    await waitForTasks(
      'crash-b',
      (t) => t.some((x) => x.statusType === 'success') && t.some((x) => x.statusType === 'info'),
      'one task done, one running',
    );
    await stack.kill('scheduler', 'SIGKILL');
    await stack.start('scheduler');
    const job = await waitTerminal(stack, 'crash-b', 90_000);
    expect(job.error).toBe(false);
    await expectAllOnce('crash-b');
  }, 120_000);

  it('(c) Redis killed and restarted mid-job: the job finishes with nothing lost', async () => {
    await createJob(stack, 'crash-c', slowJobBody(stack, 'crash-in'));
    await waitForTasks(
      'crash-c',
      (t) => t.some((x) => x.statusType === 'success') && t.some((x) => x.statusType === 'info'),
      'one task done, one running',
    );
    await redis.stop('SIGKILL');
    await redis.start();
    const job = await waitTerminal(stack, 'crash-c', 90_000);
    expect(job.error).toBe(false);
    await expectAllOnce('crash-c');
  }, 120_000);

  it('(d) abort mid-processing ends the job within 10 s and starts no task; (e) restart re-runs only unfinished tasks', async () => {
    // One task at a time, so that some tasks are still unstarted when the abort comes.
    await createJob(stack, 'crash-d', slowJobBody(stack, 'crash-in', { maxParallelTasks: 1 }));
    await waitForTasks(
      'crash-d',
      (t) => t.some((x) => x.statusType === 'success') && t.some((x) => x.statusType === 'info'),
      'one task done, one running',
    );
    const abort = await stack.call('POST', `${bp(stack)}/jobs/crash-d/abort`);
    expect(abort.status).toBe(200);
    const abortedAt = Date.now();
    const startedAtAbort = new Set((await processingTasks(stack, 'crash-d')).keys());
    const job = await waitTerminal(stack, 'crash-d', 10_000);
    expect(Date.now() - abortedAt).toBeLessThan(10_000);
    expect(job.error).toBe(true);
    expect(job.isTerminal).toBe(true);
    // Let every machine that served the job let go of it, then look at what ran.
    const logOf = (w: string) =>
      fs
        .readFileSync(path.join(stack.env.VB_DATA_DIR, 'logs', `${w}.log`), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"crash-d"'));
    await waitFor(
      () =>
        ['worker-1', 'worker-2'].every((w) => {
          const lines = logOf(w);
          return (
            lines.filter((l) => l.includes('"lease released"')).length >=
            lines.filter((l) => l.includes('"lease started"')).length
          );
        }),
      { timeoutMs: 15_000, intervalMs: 100, message: 'workers released crash-d' },
    );
    const afterAbort = await processingTasks(stack, 'crash-d');
    const stage = (await stack.call('GET', `${bp(stack)}/jobs/crash-d/stages`)).json.stages.find(
      (s: any) => s.processingStageId === 'processing',
    );
    const tasksNumber = stage.tasksNumber as number;
    expect(tasksNumber).toBe(IMAGES / PER_TASK);
    // No task started after the abort: the tasks known now were all known when the abort returned.
    expect([...afterAbort.keys()].filter((id) => !startedAtAbort.has(id))).toEqual([]);
    expect(afterAbort.size).toBeLessThan(tasksNumber);
    const finished = new Map([...afterAbort].filter(([, t]) => t.statusType === 'success'));
    expect(finished.size).toBeGreaterThanOrEqual(1);

    // (e) restart: finished tasks keep their status (same timestamp: not re-run), the others run.
    const restart = await stack.call('POST', `${bp(stack)}/jobs/crash-d/restart`);
    expect(restart.status).toBe(200);
    const done = await waitTerminal(stack, 'crash-d', 90_000);
    expect(done.error).toBe(false);
    expect(done.restartParametersOverride).toEqual([{ type: 'parameters-override-v1' }]);
    const final = await processingTasks(stack, 'crash-d');
    expect(final.size).toBe(tasksNumber);
    for (const [id, t] of finished) expect(final.get(id)).toEqual(t);
    expect([...final.values()].every((t) => t.statusType === 'success')).toBe(true);
    await expectAllOnce('crash-d');
  }, 150_000);
});
