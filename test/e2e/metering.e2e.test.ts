/**
 * Metering over real processes: a job served by two worker machines bills the sum of their lease
 * durations. `computeUsage.cpuSeconds` on GET job equals the sum of what the scheduler billed per
 * lease (its `lease released` / `lease expired` records) and is within 5 % of the time the two
 * machines themselves report holding their leases.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import {
  createJob,
  getJob,
  registerSlowModel,
  slowJobBody,
  stageImages,
  startStack,
  waitTerminal,
} from './e2e-support.ts';
import type { Stack } from './stack.ts';

const jsonLines = (stack: Stack, name: string): any[] =>
  fs
    .readFileSync(path.join(stack.env.VB_DATA_DIR, 'logs', `${name}.log`), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

describe('metering', () => {
  let stack: Stack;
  let dir: string;

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-e2e-metering-');
    stack = await startStack(
      redisTestUrl(),
      path.join(dir, 'data'),
      { VB_IMAGES_PER_TASK: '6', VB_WORKER_SLOTS: '1' },
      2,
    );
    await registerSlowModel(stack, dir);
    await stageImages(stack, dir, 'meter-in', 36, 9);
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('bills the sum of the lease durations of the two machines that served the job', async () => {
    await createJob(stack, 'meter-a', slowJobBody(stack, 'meter-in'));
    const job = await waitTerminal(stack, 'meter-a');
    expect(job.error).toBe(false);
    // Every lease granted on the job is closed (released or expired) before we read the meter.
    // The workers log how long they held a lease just after the scheduler closed it: wait for both sides.
    let granted: any[] = [];
    let closed: any[] = [];
    let held: any[] = [];
    await waitFor(
      () => {
        const lines = jsonLines(stack, 'scheduler').filter((l) => l.jobId === 'meter-a');
        granted = lines.filter((l) => l.msg === 'lease granted');
        closed = lines.filter(
          (l) => (l.msg === 'lease released' || l.msg === 'lease expired') && typeof l.billedMs === 'number',
        );
        held = ['worker-1', 'worker-2']
          .flatMap((w) => jsonLines(stack, w))
          .filter((l) => l.jobId === 'meter-a' && l.msg === 'lease released');
        return (
          granted.length > 0 &&
          granted.every((g) => closed.some((c) => c.leaseId === g.leaseId)) &&
          granted.every((g) => held.some((h) => h.leaseId === g.leaseId))
        );
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'every lease of meter-a closed on both sides' },
    );
    expect(new Set(granted.map((g) => g.machineId))).toEqual(new Set(['worker-1', 'worker-2']));
    const billedMs = closed.reduce((a, c) => a + c.billedMs, 0);
    const heldMs = held.reduce((a, l) => a + l.heldMs, 0);
    const table = JSON.stringify(
      closed.map((c) => ({
        lease: c.leaseId.slice(0, 8),
        m: c.machineId,
        msg: c.msg,
        billed: c.billedMs,
        held: held.find((h) => h.leaseId === c.leaseId)?.heldMs,
      })),
    );
    const usage = (await getJob(stack, 'meter-a')).computeUsage;
    expect(usage.gpuSeconds).toBe(0);
    expect(Math.abs(usage.cpuSeconds - billedMs / 1000)).toBeLessThanOrEqual(0.001 + billedMs / 1000 / 1000);
    expect(heldMs).toBeGreaterThan(0);
    expect(Math.abs(usage.cpuSeconds * 1000 - heldMs) / heldMs, table).toBeLessThan(0.05);
  }, 120_000);
});
