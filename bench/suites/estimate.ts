/**
 * Accuracy of cost estimates (`POST .../jobs/estimate`) over real processes (api, scheduler, one
 * worker on this machine, a private redis-server, the fs store). Per run: the estimate of a job
 * (its sample runs as a job of its own), then the whole job on the same machine; the error is
 * (predicted − measured) / measured of the machine-seconds billed and of the credits.
 * Images: the demo's data (`npm run demo`: 40 generated images, seed 7, the shapes-det model, the
 * CLI's default job options). Video: a generated 640×360 30 fps clip of `VB_BENCH_ESTIMATE_VIDEO_S`
 * seconds (default 20) with the same detection workflow, every frame processed; the estimate runs
 * its first VB_ESTIMATE_SAMPLE_SECONDS (4). `VB_BENCH_ESTIMATE_RUNS` (default 3) runs of each;
 * `VB_BENCH_ESTIMATE_PARTS=images,video` picks parts.
 */
import path from 'node:path';
import {
  ApiClient,
  buildImageJobBody,
  buildVideoJobBody,
  createBatchOfImages,
  createBatchOfVideos,
  estimateJob,
  generateJobId,
  getJob,
  putWorkflow,
  triggerJob,
  uploadModel,
} from '@visionbatch/cli';
import { detectionWorkflow, generateImageDataset, generateVideo, writeModels } from '@visionbatch/models';
import { createRedis } from '@visionbatch/shared/redis';
import { keys } from '@visionbatch/shared/redis-keys';
import type { Estimate } from '@visionbatch/shared/wire/job-estimate';
import { tempDir, waitFor } from '../../test/support/basics.ts';
import { BenchStack, startRedis } from '../support.ts';
import type { Suite } from './index.ts';

const RUNS = Number(process.env.VB_BENCH_ESTIMATE_RUNS ?? 3);
const VIDEO_SECONDS = Number(process.env.VB_BENCH_ESTIMATE_VIDEO_S ?? 20);
const PARTS = (process.env.VB_BENCH_ESTIMATE_PARTS ?? 'images,video').split(',').map((p) => p.trim());
const MODEL_ID = 'shapes-det/1';
const WORKFLOW_ID = 'bench-estimate';
const round = (x: number, d = 2) => Number(x.toFixed(d));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Run {
  predictedMachineSeconds: number;
  measuredMachineSeconds: number;
  predictedCredits: number;
  measuredCredits: number;
  predictedWallSeconds: number;
  measuredWallSeconds: number;
  sampleMachineSeconds: number;
  perUnitSeconds: Estimate['perUnitSeconds'];
  startupSeconds: number;
  errorPctMachineSeconds: number;
  errorPctCredits: number;
}

/** Runs the job and answers its billed machine-seconds and credits once every lease on it closed. */
async function measuredRun(
  client: ApiClient,
  redis: ReturnType<typeof createRedis>,
  ws: string,
  body: Record<string, unknown>,
): Promise<{ machineSeconds: number; credits: number; wallSeconds: number }> {
  const jobId = generateJobId('bench-');
  await triggerJob(client, jobId, body);
  const job = await waitFor(
    async () => {
      const j = await getJob(client, jobId);
      return j.isTerminal && (await redis.scard(keys.jobLeases(ws, jobId))) === 0 ? j : null;
    },
    { timeoutMs: 15 * 60_000, intervalMs: 250, message: `job ${jobId} done and billed` },
  );
  if (job.error) throw new Error(`job ${jobId} failed: ${JSON.stringify(job.lastNotification)}`);
  const j = await getJob(client, jobId);
  const u = j.computeUsage ?? { cpuSeconds: 0, gpuSeconds: 0, credits: 0 };
  return {
    machineSeconds: u.cpuSeconds + u.gpuSeconds,
    credits: u.credits,
    wallSeconds: (Date.parse(j.estimatedCompletion ?? j.lastUpdate) - Date.parse(j.createdAt)) / 1000,
  };
}

async function part(
  stack: BenchStack,
  redis: ReturnType<typeof createRedis>,
  body: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const client = new ApiClient({ baseUrl: stack.apiUrl, apiKey: stack.apiKey, timeoutMs: 120_000 });
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    const e = await estimateJob(client, body, { machines: 1, timeoutMs: 10 * 60_000 });
    const m = await measuredRun(client, redis, stack.workspace, body);
    const predicted = e.predicted.machineSeconds.cpu + e.predicted.machineSeconds.gpu;
    const run: Run = {
      predictedMachineSeconds: round(predicted),
      measuredMachineSeconds: round(m.machineSeconds),
      predictedCredits: round(e.predicted.credits, 6),
      measuredCredits: round(m.credits, 6),
      predictedWallSeconds: round(e.predicted.wallSeconds),
      measuredWallSeconds: round(m.wallSeconds),
      sampleMachineSeconds: round(e.estimateCost.machineSeconds.cpu + e.estimateCost.machineSeconds.gpu),
      perUnitSeconds: e.perUnitSeconds,
      startupSeconds: e.startupSeconds,
      errorPctMachineSeconds: round((100 * (predicted - m.machineSeconds)) / m.machineSeconds, 1),
      errorPctCredits: round((100 * (e.predicted.credits - m.credits)) / m.credits, 1),
    };
    console.error(JSON.stringify(run));
    runs.push(run);
  }
  return {
    errorPctMachineSeconds: median(runs.map((r) => r.errorPctMachineSeconds)),
    errorPctCredits: median(runs.map((r) => r.errorPctCredits)),
    worstAbsErrorPct: Math.max(...runs.map((r) => Math.abs(r.errorPctMachineSeconds))),
    runs,
  };
}

export const estimateSuite: Suite = {
  describe: `Cost estimates against the measured run of the whole job on the same machine (one worker), ${RUNS} runs each; errorPct = median of (predicted − measured) / measured, machine-seconds and credits. images: the demo's 40 images (seed 7, shapes-det, default job options), sample of VB_ESTIMATE_SAMPLE_FILES images; video: one generated 640×360 30 fps clip of ${VIDEO_SECONDS} s, every frame, sample of its first VB_ESTIMATE_SAMPLE_SECONDS.`,
  async run() {
    const dir = await tempDir('vb-bench-estimate-');
    const r = await startRedis(dir);
    const redis = createRedis(r.url);
    const stack = await BenchStack.create(r.url, path.join(dir, 'data'));
    try {
      await stack.start('api');
      await stack.start('scheduler');
      await stack.start('worker');
      const client = new ApiClient({ baseUrl: stack.apiUrl, apiKey: stack.apiKey });
      const ws = stack.workspace;
      const [model] = await writeModels(path.join(dir, 'models'), { names: ['shapes-det'] });
      await uploadModel(client, { modelId: MODEL_ID, weights: model.onnxPath, config: model.configPath });
      await putWorkflow(client, WORKFLOW_ID, detectionWorkflow(MODEL_ID));
      const out: Record<string, unknown> = {};
      const errorPct: Record<string, number> = {};
      if (PARTS.includes('images')) {
        const imagesDir = path.join(dir, 'images');
        const data = await generateImageDataset({ dir: imagesDir, count: 40, seed: 7 });
        await (await import('node:fs/promises')).rm(data.groundTruthPath);
        await createBatchOfImages(client, {
          batchId: 'demo',
          imagesDir,
          progress: { silent: true },
          log: () => {},
        });
        await waitFor(
          async () =>
            (await stack.call('GET', `/data-staging/v1/external/${ws}/batches/demo/count`)).json.count >= 40,
          {
            timeoutMs: 120_000,
            intervalMs: 250,
            message: '40 images staged',
          },
        );
        const images = await part(
          stack,
          redis,
          buildImageJobBody({ batchId: 'demo', workflowId: WORKFLOW_ID, aggregationFormat: 'jsonl' }, ws),
        );
        out.images = images;
        errorPct.images = images.errorPctMachineSeconds as number;
      }
      if (PARTS.includes('video')) {
        const videosDir = path.join(dir, 'videos');
        await (await import('node:fs/promises')).mkdir(videosDir);
        const v = await generateVideo({
          path: path.join(videosDir, 'clip.mp4'),
          seconds: VIDEO_SECONDS,
          fps: 30,
          width: 640,
          height: 360,
          seed: 3,
        });
        await (await import('node:fs/promises')).rm(v.groundTruthPath);
        await createBatchOfVideos(client, {
          batchId: 'clips',
          videosDir,
          progress: { silent: true },
          log: () => {},
        });
        const video = await part(
          stack,
          redis,
          buildVideoJobBody({ batchId: 'clips', workflowId: WORKFLOW_ID, aggregationFormat: 'jsonl' }, ws),
        );
        out.video = video;
        errorPct.video = video.errorPctMachineSeconds as number;
      }
      return { errorPct, ...out };
    } finally {
      redis.disconnect();
      await stack.stop();
      r.proc.kill();
    }
  },
};
