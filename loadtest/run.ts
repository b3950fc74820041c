/**
 * `npm run loadtest [-- options]`: generates a sample dataset (images, a few corrupt, and videos),
 * runs it through the local stack (api and scheduler as processes, the worker pool driven by the
 * scheduler's `local` autoscaler from 0 machines), polls job status from many concurrent clients,
 * and writes reports/loadtest/latest.{json,md}: throughput, API latency under that polling, pool
 * size over time, and an accounting check that every input file is in the results or in the
 * failure list exactly once.
 */
import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ApiClient,
  createBatchOfImages,
  createBatchOfVideos,
  putWorkflow,
  uploadModel,
} from '@visionbatch/cli';
import { detectionWorkflow, generateImageDataset, generateVideo, writeModels } from '@visionbatch/models';
import { BenchStack, startRedis } from '../bench/support.ts';
import { waitFor } from '../test/support/basics.ts';
import { accountImages, accountVideos } from './accounting.ts';
import { ApiPollers } from './pollers.ts';
import { PoolSampler } from './pool-sampler.ts';
import { type LoadtestReport, renderMarkdown } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values: opt } = parseArgs({
  options: {
    images: { type: 'string', default: '600' },
    'image-size': { type: 'string', default: '640x480' },
    'corrupt-every': { type: 'string', default: '100' },
    videos: { type: 'string', default: '2' },
    'video-seconds': { type: 'string', default: '8' },
    'video-fps': { type: 'string', default: '5' },
    'images-per-task': { type: 'string', default: '25' },
    'max-machines': { type: 'string', default: '3' },
    pollers: { type: 'string', default: '16' },
    'poll-interval-ms': { type: 'string', default: '100' },
    out: { type: 'string', default: path.join(ROOT, 'reports', 'loadtest') },
    help: { type: 'boolean', default: false },
  },
});

if (opt.help) {
  console.log(`npm run loadtest -- [--images N] [--image-size WxH] [--corrupt-every K] [--videos M]
  [--video-seconds S] [--video-fps F] [--images-per-task T] [--max-machines P] [--pollers C]
  [--poll-interval-ms MS] [--out DIR]`);
  process.exit(0);
}

function intOption(name: string, min: number): number {
  const v = Number(opt[name as keyof typeof opt]);
  if (!Number.isInteger(v) || v < min) {
    console.error(`--${name} must be an integer >= ${min}`);
    process.exit(2);
  }
  return v;
}

const IMAGES = intOption('images', 1);
const CORRUPT_EVERY = intOption('corrupt-every', 0);
const VIDEOS = intOption('videos', 0);
const VIDEO_SECONDS = intOption('video-seconds', 1);
const VIDEO_FPS = intOption('video-fps', 1);
const IMAGES_PER_TASK = intOption('images-per-task', 1);
const MAX_MACHINES = intOption('max-machines', 1);
const POLLERS = intOption('pollers', 1);
const POLL_INTERVAL_MS = intOption('poll-interval-ms', 0);
const sizeMatch = /^(\d+)x(\d+)$/.exec(String(opt['image-size']));
if (!sizeMatch) {
  console.error('--image-size must look like 640x480');
  process.exit(2);
}
const IMAGE_SIZE = [Number(sizeMatch[1]), Number(sizeMatch[2])] as const;

const MODEL_ID = 'shapes-det/1';
const WORKFLOW_ID = 'loadtest';
const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
const say = (msg: string) => console.log(`[${elapsed().toFixed(1)}s] ${msg}`);

async function main(): Promise<number> {
  const work = path.join(ROOT, '.data', 'loadtest');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });

  say(`generating ${IMAGES} images (${IMAGE_SIZE.join('x')}) and ${VIDEOS} videos of ${VIDEO_SECONDS} s`);
  const [model] = await writeModels(path.join(work, 'models'), { names: ['shapes-det'] });
  const imagesDir = path.join(work, 'images');
  const dataset = await generateImageDataset({
    dir: imagesDir,
    count: IMAGES,
    seed: 11,
    pngEvery: 0,
    sizes: [IMAGE_SIZE],
  });
  const corrupt = new Set<string>();
  if (CORRUPT_EVERY > 0) {
    for (let i = CORRUPT_EVERY - 1; i < dataset.files.length; i += CORRUPT_EVERY) {
      const f = dataset.files[i];
      await truncate(path.join(imagesDir, f), 600); // a JPEG header and nothing after it
      corrupt.add(f);
    }
  }
  const videosDir = path.join(work, 'videos');
  await mkdir(videosDir, { recursive: true });
  const videoFrames = new Map<string, number>();
  for (let v = 0; v < VIDEOS; v++) {
    const name = `clip-${v}.mp4`;
    const r = await generateVideo({
      path: path.join(videosDir, name),
      seconds: VIDEO_SECONDS,
      seed: 100 + v,
    });
    await rm(r.groundTruthPath);
    videoFrames.set(name, r.groundTruth.frameCount);
  }

  const redis = await startRedis(work);
  const stack = await BenchStack.create(redis.url, path.join(work, 'data'));
  stack.env.VB_IMAGES_PER_TASK = String(IMAGES_PER_TASK);
  stack.env.VB_LOG_LEVEL = 'warn';
  const sampler = new PoolSampler(`http://127.0.0.1:${stack.env.VB_SCHEDULER_HTTP_PORT}/metrics`, 'cpu');
  const pollers = new ApiPollers(stack.apiUrl, stack.apiKey, stack.workspace);
  try {
    say(`starting api and scheduler (VB_AUTOSCALER=local, pool cpu 0..${MAX_MACHINES}, no worker running)`);
    await stack.start('api');
    await stack.start('scheduler', {
      VB_AUTOSCALER: 'local',
      VB_POOL_CPU_MIN: '0',
      VB_POOL_CPU_MAX: String(MAX_MACHINES),
      VB_AUTOSCALER_INTERVAL_MS: '1000',
      VB_AUTOSCALER_COOLDOWN_S: '10',
      VB_AUTOSCALER_TARGET_DRAIN_S: '10',
    });
    sampler.start();

    const client = new ApiClient({ baseUrl: stack.apiUrl, apiKey: stack.apiKey });
    await uploadModel(client, { modelId: MODEL_ID, weights: model.onnxPath, config: model.configPath });
    await putWorkflow(client, WORKFLOW_ID, detectionWorkflow(MODEL_ID));

    say('staging the images (tar shards) and videos');
    const quiet = { progress: { silent: true }, log: () => {} };
    await createBatchOfImages(client, { batchId: 'lt-images', imagesDir, ...quiet });
    if (VIDEOS > 0) await createBatchOfVideos(client, { batchId: 'lt-videos', videosDir, ...quiet });
    await waitFor(async () => (await pollers.count('lt-images')) >= IMAGES, {
      timeoutMs: 300_000,
      intervalMs: 500,
      message: 'image batch indexed',
    });

    const jobs = VIDEOS > 0 ? ['lt-images', 'lt-videos'] : ['lt-images'];
    say(`starting jobs ${jobs.join(', ')}; ${POLLERS} clients poll the api`);
    pollers.start(jobs, POLLERS, POLL_INTERVAL_MS);
    const startedAt = performance.now();
    await pollers.createImageJob('lt-images', 'lt-images', WORKFLOW_ID);
    if (VIDEOS > 0) await pollers.createVideoJob('lt-videos', 'lt-videos', WORKFLOW_ID, VIDEO_FPS);

    const progress = setInterval(() => {
      const s = sampler.latest();
      say(
        `pool: ${s?.machines ?? '?'} machines (desired ${s?.desired ?? '?'}); ` +
          `api: ${pollers.requests} requests, p99 ${pollers.percentile(0.99).toFixed(1)} ms; ` +
          `jobs terminal: ${pollers.terminalCount()}/${jobs.length}`,
      );
    }, 5000);
    const ended = new Map<string, number>();
    try {
      await waitFor(
        () => {
          for (const j of jobs) {
            const at = pollers.terminalAt(j);
            if (at !== null && !ended.has(j)) ended.set(j, at);
          }
          return ended.size === jobs.length;
        },
        { timeoutMs: 1_800_000, intervalMs: 250, message: 'jobs terminal' },
      );
    } finally {
      clearInterval(progress);
      await pollers.stop();
    }
    const imageSeconds = ((ended.get('lt-images') ?? performance.now()) - startedAt) / 1000;
    const videoSeconds = VIDEOS > 0 ? ((ended.get('lt-videos') ?? performance.now()) - startedAt) / 1000 : 0;
    say(`jobs ended; waiting for the pool to drain back to 0`);
    const drained = await waitFor(() => sampler.latest()?.machines === 0, {
      timeoutMs: 120_000,
      intervalMs: 500,
      message: 'pool back to 0',
    }).then(
      () => true,
      () => false,
    );
    sampler.stop();

    say('exporting and accounting the results');
    const images = await accountImages(
      client,
      pollers,
      'lt-images',
      dataset.files,
      corrupt,
      path.join(work, 'export-images'),
    );
    const videos =
      VIDEOS > 0
        ? await accountVideos(
            client,
            pollers,
            'lt-videos',
            videoFrames,
            VIDEO_FPS,
            path.join(work, 'export-videos'),
          )
        : null;
    const filesIn = IMAGES + VIDEOS;
    const filesAccounted = images.accounted + (videos?.accounted ?? 0);
    const duplicates = images.duplicates + (videos?.duplicates ?? 0);
    const timeline = sampler.timeline();
    const report: Omit<LoadtestReport, 'ok'> = {
      generatedAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', node: process.version },
      options: {
        images: IMAGES,
        imageSize: IMAGE_SIZE.join('x'),
        corrupt: corrupt.size,
        videos: VIDEOS,
        videoSeconds: VIDEO_SECONDS,
        maxVideoFPS: VIDEO_FPS,
        imagesPerTask: IMAGES_PER_TASK,
        maxMachines: MAX_MACHINES,
        pollers: POLLERS,
        pollIntervalMs: POLL_INTERVAL_MS,
      },
      filesIn,
      filesAccounted,
      duplicates,
      missing: [...images.missing, ...(videos?.missing ?? [])],
      imagesPerSec: round(images.processed / imageSeconds),
      imageJobSeconds: round(imageSeconds),
      imagesProcessed: images.processed,
      imagesFailed: images.failed,
      unexpectedFailures: images.unexpectedFailures,
      videoFramesProcessed: videos?.frames ?? 0,
      videoFramesExpected: videos?.expectedFrames ?? 0,
      videoJobSeconds: round(videoSeconds),
      jobsSucceeded: pollers.succeeded(),
      apiRequests: pollers.requests,
      apiErrors: pollers.errors,
      apiP50Ms: round(pollers.percentile(0.5)),
      apiP99Ms: round(pollers.percentile(0.99)),
      apiMaxMs: round(pollers.percentile(1)),
      maxPoolSize: Math.max(0, ...timeline.map((s) => s.machines)),
      maxDesiredPoolSize: Math.max(0, ...timeline.map((s) => s.desired)),
      poolStartedAt0: timeline[0]?.machines === 0,
      poolReturnedTo0: drained,
      poolTimeline: sampler.compactTimeline(),
    };
    const ok =
      report.filesAccounted === report.filesIn &&
      report.duplicates === 0 &&
      report.unexpectedFailures.length === 0 &&
      report.poolStartedAt0 &&
      report.poolReturnedTo0 &&
      report.maxPoolSize > 1;
    await mkdir(String(opt.out), { recursive: true });
    await writeFile(
      path.join(String(opt.out), 'latest.json'),
      `${JSON.stringify({ ...report, ok }, null, 2)}\n`,
    );
    await writeFile(path.join(String(opt.out), 'latest.md'), renderMarkdown({ ...report, ok }));
    say(
      `${ok ? 'PASS' : 'FAIL'}: ${filesAccounted}/${filesIn} files accounted, ${duplicates} duplicates, ` +
        `${report.imagesPerSec} img/s, api p99 ${report.apiP99Ms} ms, pool 0 → ${report.maxPoolSize} → ${drained ? 0 : '?'}; ` +
        `report in ${path.relative(ROOT, String(opt.out))}/latest.{json,md}`,
    );
    return ok ? 0 : 1;
  } finally {
    sampler.stop();
    await stack.stop();
    redis.proc.kill('SIGTERM');
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`loadtest failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
