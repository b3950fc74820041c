import { describe, expect, it } from 'vitest';
import {
  desiredPoolSize,
  type JobWork,
  machinesForJob,
  type PolicyOptions,
  type PoolState,
} from './policy.ts';

const opts: PolicyOptions = {
  targetDrainSeconds: 60,
  filesPerMachineSecond: 10,
  scaleDownCooldownMs: 30_000,
};
const pool = (p: Partial<PoolState> = {}): PoolState => ({
  min: 0,
  max: 10,
  current: 0,
  busy: 0,
  lastChangeAt: 0,
  ...p,
});
const job = (files: number, extra: Partial<JobWork> = {}): JobWork => ({
  remainingTasks: Math.ceil(files / 256),
  remainingFiles: files,
  workersPerMachine: 2,
  maxParallelTasks: null,
  ...extra,
});

describe('autoscaler policy', () => {
  it('rises with the backlog', () => {
    const sizes = [0, 100, 1_000, 3_000, 6_000, 20_000].map((f) =>
      desiredPoolSize(f ? [job(f)] : [], pool(), opts, 1e9),
    );
    expect(sizes).toEqual([0, 1, 2, 5, 10, 10]);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeGreaterThanOrEqual(sizes[i - 1]);
  });

  it('respects the job cap maxParallelTasks / workersPerMachine and the pool max and min', () => {
    expect(machinesForJob(job(100_000, { maxParallelTasks: 6, workersPerMachine: 2 }), opts)).toBe(3);
    expect(machinesForJob(job(100_000, { maxParallelTasks: 1, workersPerMachine: 4 }), opts)).toBe(1);
    expect(desiredPoolSize([job(100_000), job(100_000)], pool({ max: 4 }), opts, 1e9)).toBe(4);
    expect(desiredPoolSize([], pool({ min: 2 }), opts, 1e9)).toBe(2);
    // never more machines than tasks can use
    expect(
      machinesForJob(
        { remainingTasks: 3, remainingFiles: 1_000_000, workersPerMachine: 1, maxParallelTasks: null },
        opts,
      ),
    ).toBe(3);
  });

  it('sums over jobs of the pool', () => {
    expect(desiredPoolSize([job(600), job(600), job(1_200)], pool(), opts, 1e9)).toBe(1 + 1 + 2);
  });

  it('falls to zero when idle, after the cooldown', () => {
    expect(desiredPoolSize([], pool({ current: 4, lastChangeAt: 1_000 }), opts, 10_000)).toBe(4);
    expect(desiredPoolSize([], pool({ current: 4, lastChangeAt: 1_000 }), opts, 40_000)).toBe(0);
  });

  it('never scales down a machine holding a lease', () => {
    expect(desiredPoolSize([job(100)], pool({ current: 5, busy: 3, lastChangeAt: 0 }), opts, 1e9)).toBe(3);
    expect(desiredPoolSize([], pool({ current: 2, busy: 2, lastChangeAt: 0 }), opts, 1e9)).toBe(2);
  });

  it('drains a simulated workload: up with the backlog, down to zero after it', () => {
    // 12,000 files; each machine does 10 files/s; every step is 10 s.
    let remaining = 12_000;
    let size = 0;
    let lastChange = 0;
    const trace: number[] = [];
    for (let t = 0; t <= 600_000; t += 10_000) {
      const jobs = remaining > 0 ? [job(remaining)] : [];
      const next = desiredPoolSize(
        jobs,
        pool({ current: size, busy: remaining > 0 ? size : 0, lastChangeAt: lastChange }),
        opts,
        t,
      );
      if (next !== size) lastChange = t;
      size = next;
      trace.push(size);
      remaining = Math.max(0, remaining - size * 10 * 10);
    }
    expect(Math.max(...trace)).toBe(10);
    expect(trace.at(-1)).toBe(0);
    const firstZeroAfterWork = trace.findIndex((s, i) => i > 0 && s === 0);
    expect(firstZeroAfterWork).toBeGreaterThan(trace.indexOf(10));
  });
});
