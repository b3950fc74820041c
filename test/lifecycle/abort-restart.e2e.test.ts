/**
 * Abort stops work, as a user sees it through the CLI (which counts tasks the way Roboflow's
 * `show-job-details` does): once a task runs, an abort leaves no task reported running within 5 s,
 * no write lands after the job is terminal, and a restart finishes the job with every file in the
 * results exactly once.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
} from '../e2e/e2e-support.ts';
import type { Stack } from '../e2e/stack.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Enough one-at-a-time tasks that the job is still running when the CLI's abort lands. */
const IMAGES = 96;

describe('abort and restart through the CLI', () => {
  let stack: Stack;
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-abort-');
    stack = await startStack(
      redisTestUrl(),
      path.join(dir, 'data'),
      { VB_IMAGES_PER_TASK: '4', VB_WORKER_SLOTS: '1' },
      2,
    );
    await registerSlowModel(stack, dir);
    files = (await stageImages(stack, dir, 'abort-in', IMAGES, 0)).files;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  /** Runs the CLI as a user would, against the stack. */
  const cli = async (...args: string[]) =>
    (
      await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', path.join(ROOT, 'packages/cli/src/main.ts'), ...args],
        {
          cwd: ROOT,
          env: { ...process.env, VB_API_URL: stack.apiUrl, VB_API_KEY: stack.apiKey },
        },
      )
    ).stdout;

  /** The RUNNING column of `show-job-details`, per stage. */
  const runningColumn = async (jobId: string) => {
    const out = await cli('batch-processing', 'show-job-details', '-j', jobId);
    const lines = out.split('\n');
    const header = lines.findIndex((l) => l.startsWith('STAGE'));
    if (header < 0) return { out, running: [] as number[] };
    const col = lines[header].split(/\s{2,}/).indexOf('RUNNING');
    const rows = lines.slice(header + 1).filter((l) => /^(processing|export)\s/.test(l));
    return { out, running: rows.map((r) => Number(r.split(/\s{2,}/)[col])) };
  };

  it('abort once a task runs: within 5 s no task is reported running; restart: every file once', async () => {
    await createJob(stack, 'ab', slowJobBody(stack, 'abort-in', { maxParallelTasks: 1 }));
    await waitFor(
      async () => [...(await processingTasks(stack, 'ab')).values()].some((t) => t.statusType === 'info'),
      { timeoutMs: 60_000, intervalMs: 100, message: 'a task running' },
    );
    expect((await runningColumn('ab')).running[0]).toBeGreaterThan(0);
    await cli('batch-processing', 'abort-job', '-j', 'ab');
    const abortedAt = Date.now();
    const seen = await waitFor(
      async () => {
        const r = await runningColumn('ab');
        return r.running.length > 0 && r.running.every((n) => n === 0) && r.out.includes('FAILED') ? r : null;
      },
      { timeoutMs: 5000, intervalMs: 100, message: 'no task running on the aborted job' },
    );
    expect(Date.now() - abortedAt).toBeLessThan(5000);
    expect(seen.out).toMatch(/Last status:\s+job aborted by user/);
    const atAbort = await processingTasks(stack, 'ab');
    expect([...atAbort.values()].filter((t) => t.statusType === 'info')).toEqual([]);
    expect([...atAbort.values()].some((t) => /cancelled/.test(String(t.notification)))).toBe(true);

    // Every machine lets go of the job (heartbeat: keep_going false); nothing it did later landed.
    const logOf = (w: string) =>
      fs.readFileSync(path.join(stack.env.VB_DATA_DIR, 'logs', `${w}.log`), 'utf8');
    await waitFor(
      () =>
        ['worker-1', 'worker-2'].every((w) => {
          const lines = logOf(w)
            .split('\n')
            .filter((l) => l.includes('"ab"'));
          return (
            lines.filter((l) => l.includes('"lease released"')).length >=
            lines.filter((l) => l.includes('"lease started"')).length
          );
        }),
      { timeoutMs: 30_000, intervalMs: 100, message: 'workers released the aborted job' },
    );
    expect(await processingTasks(stack, 'ab')).toEqual(atAbort);
    const job = (await stack.call('GET', `${bp(stack)}/jobs/ab`)).json.job;
    expect(job).toMatchObject({ isTerminal: true, error: true });

    await cli('batch-processing', 'restart-job', '-j', 'ab');
    const done = await waitTerminal(stack, 'ab', 120_000);
    expect(done.error).toBe(false);
    const final = await processingTasks(stack, 'ab');
    expect([...final.values()].every((t) => t.statusType === 'success')).toBe(true);
    const rows = await exportResults(stack, 'ab', path.join(dir, 'out-ab'));
    expect(expectEachOnce(rows, files)).toEqual({ dupes: [], missing: [], extra: [] });
  }, 240_000);
});
