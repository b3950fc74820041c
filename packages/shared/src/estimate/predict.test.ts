import { describe, expect, it } from 'vitest';
import { makespan, predictJob, type SampleMeasurement, type TaskTiming, unitCosts } from './predict.ts';

const CREDITS = { cpu: 1, gpu: 4 };

/** A task of `units` units: the first takes `first` ms, the others `rest` each, plus `overhead`. */
const task = (units: number, first: number, rest: number, overhead: number): TaskTiming => ({
  units,
  firstMs: first,
  restMs: rest * (units - 1),
  taskMs: overhead + first + rest * (units - 1),
  minMs: Math.min(first, units > 1 ? rest : first),
  maxMs: Math.max(first, units > 1 ? rest : first),
});

/**
 * A sample as a machine with `slots` slots would run it: `tasks` run side by side, processing from the
 * first task's start to the last one's end, `fixedMs` of machine time besides (start-up, export, drain).
 */
function sample(
  tasks: TaskTiming[],
  o: { slots: number; startupMs: number; fixedMs: number },
): SampleMeasurement {
  const spanMs = makespan(
    tasks.map((t) => t.taskMs),
    o.slots,
  );
  return {
    pool: 'cpu',
    slotsPerMachine: o.slots,
    startupMs: o.startupMs,
    tasks,
    processingSpanMs: spanMs,
    billedMs: { cpu: o.fixedMs + spanMs, gpu: 0 },
    wallMs: o.fixedMs + spanMs + 500,
  };
}

describe('unitCosts', () => {
  it('separates the first unit of a task, the others and the task overhead, with the spread', () => {
    const c = unitCosts([task(4, 120, 50, 30), task(4, 100, 70, 10)]);
    expect(c.firstMs).toBe(110);
    expect(c.restMs).toBe(60);
    expect(c.overheadMs).toBe(20);
    expect(c.perUnitMs).toEqual({ mean: (120 + 150 + 100 + 210) / 8, min: 50, max: 120 });
  });

  it('takes the first unit for every unit when no task ran more than one', () => {
    const c = unitCosts([task(1, 80, 0, 5), task(1, 100, 0, 5)]);
    expect(c.restMs).toBe(90);
    expect(c.perUnitMs).toEqual({ mean: 90, min: 80, max: 100 });
  });

  it('refuses a sample that ran nothing', () => {
    expect(() => unitCosts([task(0, 0, 0, 5)])).toThrow(/no unit/);
  });
});

describe('makespan', () => {
  it('lays tasks longest first onto the least busy slot', () => {
    expect(makespan([5, 5, 5, 5], 2)).toBe(10);
    expect(makespan([9, 1, 1, 1], 2)).toBe(9);
    expect(makespan([3, 3, 3], 1)).toBe(9);
    expect(makespan([], 4)).toBe(0);
  });
});

describe('predictJob', () => {
  const m = sample([task(2, 100, 50, 20), task(2, 100, 50, 20), task(2, 100, 50, 20), task(2, 100, 50, 20)], {
    slots: 2,
    startupMs: 1500,
    fixedMs: 4000,
  });

  it('reproduces the sample itself', () => {
    const p = predictJob(m, [2, 2, 2, 2], 1, CREDITS);
    expect(p.machineMs.cpu).toBeCloseTo(m.billedMs.cpu);
    expect(p.wallMs).toBeCloseTo(m.wallMs);
    expect(p.machinesUsed).toBe(1);
  });

  it('scales the per-unit part with the batch and keeps the fixed part', () => {
    // 40 images in 4 tasks of 10 on 2 slots: 2 waves of (20 + 100 + 9 × 50) ms
    const p = predictJob(m, [10, 10, 10, 10], 1, CREDITS);
    expect(p.machineMs.cpu).toBeCloseTo(4000 + 2 * 570);
    expect(p.credits).toBeCloseTo(((4000 + 1140) / 3_600_000) * CREDITS.cpu);
    expect(p.units).toBe(40);
    expect(p.tasks).toBe(4);
  });

  it('pays one start-up per further machine, and more machines shorten the wall time', () => {
    const tasks = Array.from({ length: 8 }, () => 100);
    const one = predictJob(m, tasks, 1, CREDITS);
    const four = predictJob(m, tasks, 4, CREDITS);
    const perTask = 20 + 100 + 99 * 50;
    expect(one.wallMs - four.wallMs).toBeCloseTo(4 * perTask - perTask);
    expect(four.machinesUsed).toBe(4);
    expect(four.machineMs.cpu).toBeCloseTo(4000 + 3 * 1500 + 4 * perTask);
    expect(one.machineMs.cpu).toBeCloseTo(4000 + 4 * perTask);
  });

  it('uses no more machines than the tasks fill', () => {
    const p = predictJob(m, [3, 3], 10, CREDITS);
    expect(p.machinesUsed).toBe(1);
  });

  it('bills the pool the sample ran on', () => {
    const p = predictJob(
      { ...m, pool: 'gpu', billedMs: { cpu: 0, gpu: m.billedMs.cpu } },
      [2, 2, 2, 2],
      1,
      CREDITS,
    );
    expect(p.machineMs.cpu).toBe(0);
    expect(p.credits).toBeCloseTo((m.billedMs.cpu / 3_600_000) * CREDITS.gpu);
  });
});
