/**
 * The local autoscaler over real processes: api and scheduler start with VB_AUTOSCALER=local and no
 * worker. A job with a backlog makes the scheduler start worker machines (child processes) for the
 * cpu pool, from 0 to more than one; the job completes with every image in the results exactly once;
 * after the cooldown the pool goes back to 0 and every machine process has exited, each one stopped
 * only while it held no lease.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import { poolGauges, samplePoolGauges, startAutoscaledStack } from './autoscale-support.ts';
import {
  createJob,
  expectEachOnce,
  exportResults,
  registerSlowModel,
  slowJobBody,
  stageImages,
  waitTerminal,
} from './e2e-support.ts';
import type { Stack } from './stack.ts';

/** A JSON log line of the scheduler or of one of its machines (their output goes to its log). */
interface LogLine {
  msg?: string;
  time: string;
  machineId?: string;
  leaseId?: string;
  jobId?: string;
}

const schedulerLines = (stack: Stack): LogLine[] =>
  fs
    .readFileSync(path.join(stack.env.VB_DATA_DIR, 'logs', 'scheduler.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

describe('autoscaler, local actuator', () => {
  let stack: Stack;
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-e2e-autoscale-');
    stack = await startAutoscaledStack(redisTestUrl(), path.join(dir, 'data'), {
      VB_IMAGES_PER_TASK: '6',
      VB_WORKER_SLOTS: '1',
    });
    await registerSlowModel(stack, dir);
    files = (await stageImages(stack, dir, 'scale-in', 72, 5)).files;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('scales the cpu pool from 0 to several machines for a job and back to 0 after it', async () => {
    expect(await poolGauges(stack)).toEqual({ desired: 0, target: 0, live: 0 });
    const sampler = samplePoolGauges(stack);
    try {
      await createJob(stack, 'scale-a', slowJobBody(stack, 'scale-in'));
      const job = await waitTerminal(stack, 'scale-a', 150_000);
      expect(job.error, JSON.stringify(job)).toBe(false);
      const rows = await exportResults(stack, 'scale-a', path.join(dir, 'export-a'));
      expect(files).toHaveLength(72);
      expect(expectEachOnce(rows, files)).toEqual({ dupes: [], missing: [], extra: [] });
      // back to 0: the policy, the actuator's children and the machines the scheduler sees
      await waitFor(
        async () => {
          const g = await poolGauges(stack);
          return g.desired === 0 && g.target === 0 && g.live === 0;
        },
        { timeoutMs: 30_000, intervalMs: 200, message: 'cpu pool back to 0' },
      );
    } finally {
      await sampler.stop();
    }
    expect(sampler.max('desired')).toBeGreaterThan(1);
    expect(sampler.max('target')).toBeGreaterThan(1);
    expect(sampler.max('target')).toBeLessThanOrEqual(3);
    expect(sampler.max('live')).toBeGreaterThan(1);

    const lines = schedulerLines(stack);
    const started = lines.filter((l) => l.msg === 'local machine started').map((l) => l.machineId);
    await waitFor(
      () => schedulerLines(stack).filter((l) => l.msg === 'local machine exited').length === started.length,
      { timeoutMs: 20_000, intervalMs: 200, message: 'every local machine exited' },
    );
    const granted = lines.filter((l) => l.msg === 'lease granted' && l.jobId === 'scale-a');
    expect(new Set(granted.map((g) => g.machineId)).size).toBeGreaterThan(1);
    // no machine was asked to stop while the scheduler saw it holding a lease: every stop of a
    // machine comes after the release of each lease it was granted
    const after = schedulerLines(stack);
    for (const stop of after.filter((l) => l.msg === 'stopping local machine (it drains first)')) {
      const grants = after.filter(
        (l) => l.msg === 'lease granted' && l.machineId === stop.machineId && l.time < stop.time,
      );
      for (const g of grants) {
        const released = after.find(
          (l) => l.msg === 'lease released' && l.leaseId === g.leaseId && l.time <= stop.time,
        );
        expect(released, `${stop.machineId} stopped while holding ${g.leaseId}`).toBeDefined();
      }
    }
    // none of them exited with an error
    expect(after.filter((l) => l.msg === 'local machine exited unexpectedly')).toEqual([]);
  }, 240_000);
});
