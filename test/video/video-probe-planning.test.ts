/**
 * Planning a video job reads the probe stored with each video's record instead of downloading the
 * video: a video probed at ingest is split without its object ever being read (here it has no
 * object at all), and a video staged without a probe (a signed-URL upload) is downloaded and
 * probed once, by the first job that plans it, and its probe kept for every later job. A cost
 * estimate's sample job plans one task over the first seconds of its sample video and probes the
 * videos it lists.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { FfmpegFrameSource } from '@visionbatch/engine/video/frame-source';
import { detectionWorkflow } from '@visionbatch/models';
import { BatchesRepo } from '@visionbatch/shared/batches-repo';
import { loadConfig } from '@visionbatch/shared/config';
import { type JobRecord, type JobSample, JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { createObjectStore, type ObjectStore } from '@visionbatch/shared/object-store/index';
import { createRedis } from '@visionbatch/shared/redis';
import { systemClock } from '@visionbatch/shared/time';
import type { WorkflowProcessingJob } from '@visionbatch/shared/wire/batch-processing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultPoints } from '../../services/scheduler/src/fault-points.ts';
import { JobQueues } from '../../services/scheduler/src/job-queues.ts';
import { Planner } from '../../services/scheduler/src/planner.ts';
import { probeVideo, videoSampleRange, videoSegments } from '../../services/scheduler/src/video-segments.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import { holdLeader, TEST_LEADER } from '../support/job-fixtures.ts';

const WS = 'ws-v';
const BATCH = 'vids';

describe('video job planning uses stored probes', () => {
  let redis: Redis;
  let queues: JobQueues;
  let planner: Planner;
  let jobs: JobsRepo;
  let batches: BatchesRepo;
  const reads: string[] = [];
  let probes = 0;
  let fsStoreCopy: (from: string, to: string) => Promise<void>;

  beforeAll(async () => {
    await flushRedisTestDb();
    const dir = await useTempDir('vb-video-probe-');
    redis = createRedis(redisTestUrl());
    const config = loadConfig({ VB_VIDEO_SEGMENT_SECONDS: '1', VB_LOG_LEVEL: 'silent' });
    batches = new BatchesRepo(redis, systemClock, config.limits.batchTtlMs);
    jobs = new JobsRepo(redis, systemClock);
    await holdLeader(redis);
    const fsStore = await createObjectStore({ driver: 'fs', dir: path.join(dir, 'objects') });
    // every read of a staged object is recorded
    const store: ObjectStore = Object.assign(Object.create(fsStore), {
      get: (key: string, range?: { start: number; end?: number }) => {
        reads.push(key);
        return fsStore.get(key, range);
      },
    });
    const ffmpeg = new FfmpegFrameSource();
    const frames = {
      probe: (file: string) => {
        probes++;
        return ffmpeg.probe(file);
      },
      frames: ffmpeg.frames.bind(ffmpeg),
    };
    await batches.ensure(WS, BATCH, { displayName: BATCH, batchType: 'simple-batch', contentType: 'videos' });
    // probed at ingest (a reference): 2.5 s at 10 fps; its object is deliberately absent
    await batches.putFile(WS, BATCH, '', 'probed.mp4', {
      contentType: 'videos',
      size: 1,
      video: { width: 64, height: 48, fps: { num: 10, den: 1 }, frameCount: 25, durationSec: 2.5 },
    });
    // uploaded by signed URL: a real 2 s clip, no probe yet
    const clip = path.join(dir, 'clip.mp4');
    await promisify(execFile)('ffmpeg', [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10:duration=2'],
      ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', clip],
    ]);
    const info = await fsStore.put(`ws/${WS}/batches/${BATCH}/_/uploaded.mp4`, createReadStream(clip));
    fsStoreCopy = async (from, to) => {
      await fsStore.put(
        `ws/${WS}/batches/${BATCH}/_/${to}`,
        await fsStore.get(`ws/${WS}/batches/${BATCH}/_/${from}`),
      );
    };
    await batches.putFile(WS, BATCH, '', 'uploaded.mp4', { contentType: 'videos', size: info.size });
    queues = new JobQueues(redis);
    const logger = createLogger('test', 'silent');
    const videoDeps = { store, batches, logger, frames, segmentSeconds: config.limits.videoSegmentSeconds };
    planner = new Planner({
      config,
      jobs,
      batches,
      queues,
      clock: systemClock,
      logger,
      faults: new FaultPoints([]),
      leaderToken: () => TEST_LEADER,
      machinesFor: async () => 1,
      segments: (ws, input, name) => videoSegments(videoDeps, ws, input, name),
      videoSample: (ws, input, name, seconds) => videoSampleRange(videoDeps, ws, input, name, seconds),
      probeVideo: (ws, input, name) => probeVideo(videoDeps, ws, input, name),
    });
  });
  afterAll(async () => {
    await queues?.closeAll();
    redis?.disconnect();
  });

  async function plan(jobId: string, sample?: JobSample): Promise<number> {
    const def: WorkflowProcessingJob = {
      type: 'simple-video-processing-v1',
      jobInput: { type: 'staging-batch-input-v1', batchId: BATCH },
      computeConfiguration: { type: 'compute-configuration-v2' },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: WS,
        workflowId: 'wf',
      },
    };
    const now = Date.now();
    await jobs.create(
      {
        jobId,
        workspace: WS,
        name: jobId,
        definition: def,
        lastNotification: null,
        createdAt: now,
        sample,
      },
      { workflow: detectionWorkflow('shapes-det/1'), models: {} },
    );
    const rec = (await jobs.get(WS, jobId)) as JobRecord;
    await planner.planProcessing(rec, { epoch: rec.epoch, leaderToken: TEST_LEADER });
    return (await jobs.getStage(WS, jobId, 'processing'))!.tasksNumber;
  }

  it('splits a probed video without reading it, and probes an unprobed one once for all jobs', async () => {
    // probed.mp4: 25 frames in 1 s segments → 3 tasks; uploaded.mp4: 20 frames → 2 tasks
    expect(await plan('first')).toBe(5);
    expect(reads).toEqual([`ws/${WS}/batches/${BATCH}/_/uploaded.mp4`]);
    expect(probes).toBe(1);
    expect(await batches.getVideoProbe(WS, BATCH, '', 'uploaded.mp4')).toEqual({
      width: 64,
      height: 48,
      fps: { num: 10, den: 1 },
      frameCount: 20,
      durationSec: 2,
    });
    expect(await plan('second')).toBe(5);
    expect(reads).toHaveLength(1);
    expect(probes).toBe(1);
  });

  it("plans an estimate's sample: its video's first seconds in one task, and probes the videos it lists", async () => {
    // a video uploaded without a probe that the sample does not run, but lists for probing
    await batches.putFile(WS, BATCH, '', 'other.mp4', { contentType: 'videos', size: 1 });
    await fsStoreCopy('uploaded.mp4', 'other.mp4');
    expect(await batches.getVideoProbe(WS, BATCH, '', 'other.mp4')).toBeNull();
    const n = await plan('est-1', {
      files: ['uploaded.mp4'],
      videoSeconds: 0.5,
      probe: ['uploaded.mp4', 'other.mp4'],
      maxParallelTasks: null,
    });
    expect(n).toBe(1);
    const queued = await queues.get(WS, 'est-1', 0).getJobs(['waiting', 'prioritized', 'delayed']);
    expect(queued.map((j) => j.data.input)).toEqual([
      { batchId: BATCH, part: '', files: ['uploaded.mp4'], range: { start: 0, end: 5 } },
    ]);
    expect((await batches.getVideoProbe(WS, BATCH, '', 'other.mp4'))?.frameCount).toBe(20);
  });
});
