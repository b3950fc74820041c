import { describe, expect, it } from 'vitest';
import { jobProgress, type ProgressFacts, progressOf, type StageFacts } from './job-progress.ts';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');

const stage = (over: Partial<StageFacts> = {}): StageFacts => ({
  id: 'processing',
  state: 'running',
  tasksNumber: 10,
  finished: 0,
  runningProgress: 0,
  ...over,
});

const facts = (over: Partial<ProgressFacts> = {}): ProgressFacts => ({
  state: 'running',
  endedAt: null,
  plannedStages: ['processing', 'export'],
  stages: [],
  machineMs: 0,
  machinesHeld: 0,
  now: NOW,
  ...over,
});

describe('progressOf', () => {
  it('is 0 before planning and weighs processing 0.9, export 0.1', () => {
    expect(progressOf(facts())).toBe(0);
    expect(progressOf(facts({ stages: [stage({ finished: 5 })] }))).toBeCloseTo(0.45);
    expect(progressOf(facts({ stages: [stage({ finished: 4, runningProgress: 1.5 })] }))).toBeCloseTo(0.495);
    const exporting = facts({
      stages: [
        stage({ state: 'succeeded', finished: 10 }),
        stage({ id: 'export', tasksNumber: 2, finished: 1 }),
      ],
    });
    expect(progressOf(exporting)).toBeCloseTo(0.95);
  });

  it('is exactly 1 once the job succeeded, and stays where it was for a failed job', () => {
    expect(progressOf(facts({ state: 'succeeded', stages: [stage({ finished: 3 })] }))).toBe(1);
    expect(
      progressOf(facts({ state: 'failed', stages: [stage({ state: 'failed', finished: 10 })] })),
    ).toBeCloseTo(0.9);
  });

  it('rises monotonically as tasks progress and finish', () => {
    const steps: StageFacts[][] = [
      [],
      [stage({ state: 'planning', tasksNumber: 4 })],
      [stage({ tasksNumber: 4, runningProgress: 0.5 })],
      [stage({ tasksNumber: 4, runningProgress: 1 })],
      [stage({ tasksNumber: 4, finished: 1 })],
      [stage({ tasksNumber: 4, finished: 3, runningProgress: 0.9 })],
      [stage({ tasksNumber: 4, state: 'succeeded', finished: 4 })],
      [
        stage({ tasksNumber: 4, state: 'succeeded', finished: 4 }),
        stage({ id: 'export', tasksNumber: 1, state: 'planning' }),
      ],
      [
        stage({ tasksNumber: 4, state: 'succeeded', finished: 4 }),
        stage({ id: 'export', tasksNumber: 1, finished: 1 }),
      ],
    ];
    const values = steps.map((stages) => progressOf(facts({ stages })));
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
    expect(values.at(-1)).toBeCloseTo(1);
  });

  it('gives an unknown stage an equal share', () => {
    expect(
      progressOf(facts({ plannedStages: ['a', 'b'], stages: [stage({ id: 'a', state: 'succeeded' })] })),
    ).toBe(0.5);
  });
});

describe('jobProgress: estimated completion', () => {
  it('is unknown before any progress or any metered machine time', () => {
    expect(jobProgress(facts()).estimatedCompletion).toBeNull();
    expect(jobProgress(facts({ stages: [stage({ finished: 2 })] })).estimatedCompletion).toBeNull();
    expect(jobProgress(facts({ machineMs: 10_000, machinesHeld: 1 })).estimatedCompletion).toBeNull();
  });

  it('extrapolates the progress per machine-second to the machines the job holds', () => {
    // 0.45 of the job in 90 machine-seconds: 0.005/machine-second, 0.55 left
    const one = jobProgress(facts({ stages: [stage({ finished: 5 })], machineMs: 90_000, machinesHeld: 1 }));
    expect(one.progress).toBeCloseTo(0.45);
    expect(one.estimatedCompletion).toBe(new Date(NOW + 110_000).toISOString());
    const two = jobProgress(facts({ stages: [stage({ finished: 5 })], machineMs: 90_000, machinesHeld: 2 }));
    expect(two.estimatedCompletion).toBe(new Date(NOW + 55_000).toISOString());
    // a job between two machines counts on getting one
    const none = jobProgress(facts({ stages: [stage({ finished: 5 })], machineMs: 90_000, machinesHeld: 0 }));
    expect(none.estimatedCompletion).toBe(one.estimatedCompletion);
  });

  it('is the time the job ended once it has', () => {
    const ended = NOW - 5000;
    expect(jobProgress(facts({ state: 'succeeded', endedAt: ended }))).toEqual({
      progress: 1,
      estimatedCompletion: new Date(ended).toISOString(),
    });
    expect(jobProgress(facts({ state: 'aborted', endedAt: ended })).estimatedCompletion).toBe(
      new Date(ended).toISOString(),
    );
  });
});
