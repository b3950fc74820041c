import { describe, expect, it } from 'vitest';
import { imagesPerTask } from './task-sizing.ts';

describe('imagesPerTask', () => {
  it('splits a small job across every slot it may use', () => {
    // 24 images, one machine of 2 slots: 2 tasks of 12, not one task on one slot
    expect(
      imagesPerTask({ files: 24, workersPerMachine: 2, machines: 1, maxParallelTasks: null, max: 256 }),
    ).toBe(12);
    // four such machines allowed: 8 tasks of 3
    expect(
      imagesPerTask({ files: 24, workersPerMachine: 2, machines: 4, maxParallelTasks: null, max: 256 }),
    ).toBe(3);
  });

  it('never plans more parallel tasks than maxParallelTasks allows', () => {
    expect(
      imagesPerTask({ files: 24, workersPerMachine: 4, machines: 4, maxParallelTasks: 2, max: 256 }),
    ).toBe(12);
  });

  it('keeps the upper bound for large jobs and at least one image per task', () => {
    expect(
      imagesPerTask({
        files: 1_000_000,
        workersPerMachine: 4,
        machines: 4,
        maxParallelTasks: null,
        max: 256,
      }),
    ).toBe(256);
    expect(
      imagesPerTask({ files: 3, workersPerMachine: 4, machines: 4, maxParallelTasks: null, max: 256 }),
    ).toBe(1);
    expect(
      imagesPerTask({ files: 0, workersPerMachine: 4, machines: 4, maxParallelTasks: null, max: 256 }),
    ).toBe(1);
  });
});
