import { keepsFrame } from '@visionbatch/engine/video/frame-source';
import { describe, expect, it } from 'vitest';
import { imageTasks, keptFrames, videoTasks } from './job-plan.ts';
import { spreadIndices } from './sample-choice.ts';

describe('keptFrames', () => {
  it('counts exactly the frames keepsFrame keeps', () => {
    const rates = [
      { num: 30, den: 1 },
      { num: 30000, den: 1001 },
      { num: 25, den: 1 },
      { num: 10, den: 1 },
    ];
    for (const fps of rates)
      for (const maxFps of [null, 1, 5, 7.5, 12, 29.97, 60]) {
        let n = 0;
        for (let end = 0; end <= 400; end++) {
          expect(keptFrames(end, fps, maxFps), `${fps.num}/${fps.den} at ${maxFps}, end ${end}`).toBe(n);
          if (keepsFrame(end, fps, maxFps)) n++;
        }
      }
  });

  it('counts an hour of video at once', () => {
    expect(keptFrames(108_000, { num: 30, den: 1 }, 5)).toBe(18_000);
  });
});

describe('videoTasks', () => {
  const probe = { width: 64, height: 48, fps: { num: 10, den: 1 }, frameCount: 25, durationSec: 2.5 };

  it('splits a long video of a stateless workflow into segments, as the planner does', () => {
    expect(videoTasks(probe, { maxFps: null, segmentSeconds: 1, split: true })).toEqual([10, 10, 5]);
    expect(videoTasks(probe, { maxFps: 5, segmentSeconds: 1, split: true })).toEqual([5, 5, 3]);
  });

  it('keeps a video whole for a stateful workflow or a short video', () => {
    expect(videoTasks(probe, { maxFps: null, segmentSeconds: 1, split: false })).toEqual([25]);
    expect(videoTasks(probe, { maxFps: null, segmentSeconds: 60, split: true })).toEqual([25]);
  });

  it('counts from the duration when the container gives no frame count', () => {
    expect(
      videoTasks({ ...probe, frameCount: null }, { maxFps: null, segmentSeconds: 0, split: true }),
    ).toEqual([25]);
  });
});

describe('imageTasks', () => {
  it('sizes tasks as the planner does: every slot busy, at most VB_IMAGES_PER_TASK', () => {
    expect(
      imageTasks({
        files: 40,
        workersPerMachine: 4,
        machines: 1,
        maxParallelTasks: null,
        maxImagesPerTask: 256,
      }),
    ).toEqual([10, 10, 10, 10]);
    expect(
      imageTasks({
        files: 10,
        workersPerMachine: 4,
        machines: 1,
        maxParallelTasks: null,
        maxImagesPerTask: 3,
      }),
    ).toEqual([3, 3, 3, 1]);
    expect(
      imageTasks({ files: 9, workersPerMachine: 4, machines: 2, maxParallelTasks: 2, maxImagesPerTask: 256 }),
    ).toEqual([5, 4]);
  });
});

describe('spreadIndices', () => {
  it('spreads the sample evenly over the batch, in order', () => {
    expect(spreadIndices(40, 8)).toEqual([2, 7, 12, 17, 22, 27, 32, 37]);
    expect(spreadIndices(3, 8)).toEqual([0, 1, 2]);
    expect(spreadIndices(0, 8)).toEqual([]);
  });
});
