/**
 * `npm run chaos [-- options]`: runs image jobs (a few corrupt images among them) and a video job
 * on a real stack — Redis (AOF), the api, two scheduler replicas and three workers with the
 * shapes-det model — while a seeded random schedule SIGKILLs and restarts workers, schedulers and
 * the api and stops Redis (SIGKILL or SHUTDOWN). Once the faults stop and everything settles it
 * checks that every job is terminal, every input file is in the results or the failure logs exactly
 * once, one webhook arrived per terminal job, no task still reads as running on a terminal job, no
 * queue of an ended job is left, and compares the metered time with the leases; it writes
 * reports/chaos/latest.{json,md} and exits 1 when a check fails.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
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
import { detectionWorkflow } from '@visionbatch/models';
import { createRedis } from '@visionbatch/shared/redis';
import { keys } from '@visionbatch/shared/redis-keys';
import { accountImages, accountVideos } from '../loadtest/accounting.ts';
import { ApiPollers } from '../loadtest/pollers.ts';
import { waitFor } from '../test/support/basics.ts';
import { meteredVsLeased, tallyWebhooks, verdict } from './accounting.ts';
import { type ChaosData, generateChaosData } from './dataset.ts';
import { FaultInjector } from './fault-injector.ts';
import { jobState, leftQueueKeys, observedInLogs, runningTasks } from './inspect.ts';
import { LeaseSampler } from './lease-sampler.ts';
import { type ChaosReport, type JobOutcome, renderMarkdown } from './report.ts';
import { chaosSchedule } from './schedule.ts';
import { CHAOS_API_KEY, CHAOS_HEARTBEAT_MS, chaosStack, CHAOS_WORKSPACE as WS } from './topology.ts';
import { WebhookReceiver } from './webhook-receiver.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values: opt } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    duration: { type: 'string', default: '120' },
    'mean-interval': { type: 'string', default: '4' },
    jobs: { type: 'string', default: '8' },
    images: { type: 'string', default: '100' },
    'corrupt-every': { type: 'string', default: '20' },
    videos: { type: 'string', default: '1' },
    'video-seconds': { type: 'string', default: '6' },
    'images-per-task': { type: 'string', default: '6' },
    workers: { type: 'string', default: '3' },
    'webhook-fail-every': { type: 'string', default: '3' },
    'settle-timeout': { type: 'string', default: '300' },
    out: { type: 'string', default: path.join(ROOT, 'reports', 'chaos') },
    help: { type: 'boolean', default: false },
  },
});

if (opt.help) {
  console.log(`npm run chaos -- [--seed N] [--duration S] [--mean-interval S] [--jobs N] [--images N]
  [--corrupt-every K] [--videos M] [--video-seconds S] [--images-per-task T] [--workers W]
  [--webhook-fail-every K] [--settle-timeout S] [--out DIR]`);
  process.exit(0);
}

function numOption(name: string, min: number, integer = true): number {
  const v = Number(opt[name as keyof typeof opt]);
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    console.error(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
    process.exit(2);
  }
  return v;
}

const SEED = numOption('seed', 0);
const DURATION_S = numOption('duration', 1);
const MEAN_INTERVAL_S = numOption('mean-interval', 0.5, false);
const JOBS = numOption('jobs', 1);
const IMAGES = numOption('images', 1);
const CORRUPT_EVERY = numOption('corrupt-every', 0);
const VIDEOS = numOption('videos', 0);
const VIDEO_SECONDS = numOption('video-seconds', 1);
const IMAGES_PER_TASK = numOption('images-per-task', 1);
const WORKERS = numOption('workers', 1);
const WEBHOOK_FAIL_EVERY = numOption('webhook-fail-every', 0);
const SETTLE_S = numOption('settle-timeout', 10);
const OUT = String(opt.out);
const MAX_VIDEO_FPS = 5;
const MODEL_ID = 'shapes-det/1';
const WORKFLOW_ID = 'chaos';
const BP = `/batch-processing/v1/external/${WS}`;

const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
const say = (msg: string) => console.log(`[${elapsed().toFixed(1)}s] ${msg}`);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** An answer that no retry can change (a 4xx): ends the run. */
class FatalAnswer extends Error {}

/** Retries `fn` through faults (network errors, 5xx) until it answers truthy; a {@link FatalAnswer} ends it. */
async function retrying<T>(what: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      if (err instanceof FatalAnswer) throw err;
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface PlannedJob {
  jobId: string;
  kind: 'images' | 'video';
  /** seconds after the faults start */
  at: number;
}

function jobBody(j: PlannedJob, notificationsURL: string): Record<string, unknown> {
  const video = j.kind === 'video';
  return {
    type: video ? 'simple-video-processing-v1' : 'simple-image-processing-v1',
    jobInput: { type: 'staging-batch-input-v1', batchId: video ? 'chaos-videos' : 'chaos-images' },
    computeConfiguration: { type: 'compute-configuration-v2', machineType: 'cpu', workersPerMachine: 1 },
    ...(video ? {} : { maxImageFailureRate: 0.5 }),
    notificationsURL,
    processingSpecification: {
      type: 'workflows-processing-specification-v1',
      workspace: WS,
      workflowId: WORKFLOW_ID,
      aggregationFormat: 'jsonl',
      ...(video ? { maxVideoFPS: MAX_VIDEO_FPS } : {}),
    },
  };
}

/** Creates a job through the api, retrying through faults (the same definition again answers 200). */
async function createJob(api: ApiPollers, j: PlannedJob, hookUrl: string): Promise<void> {
  await retrying(`job ${j.jobId} created`, async () => {
    const r = await api.call('POST', `${BP}/jobs/${j.jobId}`, jobBody(j, hookUrl)).catch(() => null);
    if (r && r.status >= 400 && r.status < 500)
      throw new FatalAnswer(`creating ${j.jobId}: ${r.status} ${JSON.stringify(r.json)}`);
    return r?.status === 200;
  });
}

/** Registers the model and workflow and stages the data; waits until the batches list every file. */
async function stage(client: ApiClient, api: ApiPollers, data: ChaosData): Promise<void> {
  await uploadModel(client, {
    modelId: MODEL_ID,
    weights: data.model.onnxPath,
    config: data.model.configPath,
  });
  await putWorkflow(client, WORKFLOW_ID, detectionWorkflow(MODEL_ID));
  const quiet = { progress: { silent: true }, log: () => {} };
  await createBatchOfImages(client, { batchId: 'chaos-images', imagesDir: data.imagesDir, ...quiet });
  await retrying('image batch indexed', async () => (await api.count('chaos-images')) >= data.images.length);
  if (data.videoFrames.size === 0) return;
  await createBatchOfVideos(client, { batchId: 'chaos-videos', videosDir: data.videosDir, ...quiet });
  await retrying(
    'video batch listed',
    async () => (await api.count('chaos-videos')) >= data.videoFrames.size,
  );
}

/** Exports a terminal job's results and accounts for its input files, tasks and metered time. */
async function outcomeOf(
  j: PlannedJob,
  state: string,
  data: ChaosData,
  api: ApiPollers,
  client: ApiClient,
  work: string,
): Promise<JobOutcome> {
  const job = (await api.call('GET', `${BP}/jobs/${j.jobId}`)).json.job;
  const dir = path.join(work, 'export', j.jobId);
  // A job without an export (it failed) accounts for none of its files.
  const acc = await (j.kind === 'video'
    ? accountVideos(client, api, j.jobId, data.videoFrames, MAX_VIDEO_FPS, dir)
    : accountImages(client, api, j.jobId, data.images, data.corrupt, dir)
  ).catch(() => null);
  const files = j.kind === 'video' ? [...data.videoFrames.keys()] : data.images;
  return {
    jobId: j.jobId,
    kind: j.kind,
    state,
    filesIn: files.length,
    filesAccounted: acc?.accounted ?? 0,
    duplicates: acc?.duplicates ?? 0,
    runningTasks: await runningTasks(api, j.jobId),
    meteredSeconds: round(job?.computeUsage?.cpuSeconds ?? 0),
    missing: acc ? acc.missing : files,
  };
}

async function main(): Promise<number> {
  const work = path.join(ROOT, '.data', 'chaos');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  say(`seed ${SEED}: generating the model, ${IMAGES} images and ${VIDEOS} video(s)`);
  const data = await generateChaosData(work, {
    seed: SEED,
    images: IMAGES,
    corruptEvery: CORRUPT_EVERY,
    videos: VIDEOS,
    videoSeconds: VIDEO_SECONDS,
  });
  const { stack, apiUrl, redisUrl } = await chaosStack(work, {
    workers: WORKERS,
    imagesPerTask: IMAGES_PER_TASK,
  });
  const receiver = new WebhookReceiver(WEBHOOK_FAIL_EVERY);
  const redis = createRedis(redisUrl);
  redis.on('error', () => {}); // Redis goes down on purpose; commands wait for it to come back
  const sampler = new LeaseSampler(redis);
  try {
    say(`starting redis, api, 2 schedulers, ${WORKERS} workers`);
    await stack.ensureAllUp();
    const hookUrl = await receiver.start();
    const api = new ApiPollers(apiUrl, CHAOS_API_KEY, WS);
    const client = new ApiClient({ baseUrl: apiUrl, apiKey: CHAOS_API_KEY });
    say('staging the images (tar shards) and the videos');
    await stage(client, api, data);

    // Jobs are created over the first 75 % of the faults, so that faults hit every phase of some job.
    const planned: PlannedJob[] = Array.from({ length: JOBS }, (_, i) => ({
      jobId: `chaos-${String(i).padStart(2, '0')}`,
      kind: VIDEOS > 0 && i === Math.min(1, JOBS - 1) ? 'video' : 'images',
      at: JOBS > 1 ? (i * 0.75 * DURATION_S) / (JOBS - 1) : 0,
    }));
    const events = chaosSchedule({
      seed: SEED,
      durationMs: DURATION_S * 1000,
      meanIntervalMs: MEAN_INTERVAL_S * 1000,
      targets: stack.targets(),
    });
    say(`${events.length} faults over ${DURATION_S} s; ${JOBS} jobs (webhooks to ${hookUrl})`);
    const injector = new FaultInjector(stack, say);
    sampler.start();
    const faultsStart = performance.now();
    const creating = Promise.all(
      planned.map(async (j) => {
        await new Promise((r) => setTimeout(r, j.at * 1000));
        await createJob(api, j, hookUrl);
        say(`job ${j.jobId} (${j.kind}) created`);
      }),
    );
    await injector.play(events, faultsStart);
    const faultsEnd = performance.now();
    await creating;
    say(`faults over (${injector.done.length} injected, ${injector.skipped} skipped: target already down)`);
    await stack.ensureAllUp();

    say('waiting for every job to be terminal');
    const states = new Map<string, string>();
    const settleDeadline = Date.now() + SETTLE_S * 1000;
    await waitFor(
      async () => {
        for (const j of planned) {
          if (states.has(j.jobId)) continue;
          const r = await api.call('GET', `${BP}/jobs/${j.jobId}`).catch(() => null);
          if (r?.status === 200 && r.json.job.isTerminal) states.set(j.jobId, await jobState(redis, j.jobId));
        }
        return states.size === planned.length;
      },
      { timeoutMs: Math.max(1000, settleDeadline - Date.now()), intervalMs: 500, message: 'jobs terminal' },
    ).catch((err) => say(`not settled: ${(err as Error).message}`));
    say('waiting for leases to close, the outbox to drain and the webhooks to arrive');
    await waitFor(
      async () =>
        (await redis.zcard(keys.leases())) === 0 &&
        (await redis.hlen(keys.outbox())) === 0 &&
        tallyWebhooks(receiver.deliveries, states).missing.length === 0,
      { timeoutMs: Math.max(30_000, settleDeadline - Date.now()), intervalMs: 500, message: 'quiescence' },
    ).catch((err) => say(`not quiet: ${(err as Error).message}`));
    const settleSeconds = (performance.now() - faultsEnd) / 1000;
    await sampler.stop();

    say('exporting and accounting the results');
    const outcomes: JobOutcome[] = [];
    for (const j of planned)
      outcomes.push(
        await outcomeOf(j, states.get(j.jobId) ?? (await jobState(redis, j.jobId)), data, api, client, work),
      );
    const sum = (f: (o: JobOutcome) => number) => outcomes.reduce((s, o) => s + f(o), 0);
    const webhooks = tallyWebhooks(receiver.deliveries, states);
    const metered = sum((o) => o.meteredSeconds);
    const leased = meteredVsLeased(metered, sampler.seen.values(), CHAOS_HEARTBEAT_MS);
    const leftKeys = await leftQueueKeys(redis, states);
    const jobsByState: Record<string, number> = {};
    for (const o of outcomes) jobsByState[o.state] = (jobsByState[o.state] ?? 0) + 1;
    const checks = {
      jobs: outcomes.length,
      terminalJobs: states.size,
      filesIn: sum((o) => o.filesIn),
      filesAccounted: sum((o) => o.filesAccounted),
      duplicates: sum((o) => o.duplicates),
      webhooks,
      runningTasksOnTerminalJobs: sum((o) => (states.has(o.jobId) ? o.runningTasks : 0)),
      leakedQueueKeys: leftKeys.length,
    };
    const failures = verdict(checks);
    const report: ChaosReport = {
      generatedAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', node: process.version },
      options: {
        seed: SEED,
        duration: DURATION_S,
        meanInterval: MEAN_INTERVAL_S,
        jobs: JOBS,
        images: IMAGES,
        corrupt: data.corrupt.size,
        videos: VIDEOS,
        videoSeconds: VIDEO_SECONDS,
        imagesPerTask: IMAGES_PER_TASK,
        workers: WORKERS,
        schedulers: 2,
        webhookFailEvery: WEBHOOK_FAIL_EVERY,
      },
      seed: SEED,
      durationSeconds: round((faultsEnd - faultsStart) / 1000, 1),
      settleSeconds: round(settleSeconds, 1),
      jobsByState,
      filesIn: checks.filesIn,
      filesAccounted: checks.filesAccounted,
      duplicates: checks.duplicates,
      webhooksExpected: webhooks.expected,
      webhooksDelivered: webhooks.delivered,
      webhookDuplicates: webhooks.duplicates,
      webhooksMissing: webhooks.missing,
      webhooksUnexpected: webhooks.unexpected,
      webhookRejectedAttempts: webhooks.rejectedAttempts,
      runningTasksOnTerminalJobs: checks.runningTasksOnTerminalJobs,
      kills: injector.kills,
      redisStops: injector.redisStops,
      faultsSkipped: injector.skipped,
      meteredSeconds: round(metered),
      leasedSeconds: round(leased.leasedSeconds),
      leasesSeen: leased.leases,
      meteredVsLeasedRatio: leased.ratio === null ? null : round(leased.ratio, 3),
      meteredVsLeasedDefinition:
        'Σ over jobs of computeUsage.cpuSeconds (GET job) ÷ Σ over every lease seen in Redis (sampled every ' +
        '200 ms) of (end − grant). A lease still heartbeating when last seen (last heartbeat within 1.5 ' +
        `intervals of ${CHAOS_HEARTBEAT_MS} ms) was released by its machine and is billed up to the release: ` +
        'its end is when it was last seen open, within one sample of the release. One that had stopped ' +
        'heartbeating belonged to a killed worker and is billed up to its last heartbeat (expired, or closed ' +
        'when the worker came back under its id): its end is that heartbeat. Expect ≈ 1; a lease opened and ' +
        'closed between two samples is billed but not seen.',
      leakedQueueKeys: leftKeys,
      outboxPending: await redis.hlen(keys.outbox()),
      observed: await observedInLogs(path.join(work, 'logs')),
      jobs: outcomes,
      faults: injector.done.map((e) => ({
        t: round(e.atMs / 1000, 1),
        target: e.target,
        action: e.action,
        downMs: e.downMs,
      })),
      failures,
      ok: failures.length === 0,
    };
    await mkdir(OUT, { recursive: true });
    await writeFile(path.join(OUT, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(path.join(OUT, 'latest.md'), renderMarkdown(report));
    say(
      `${report.ok ? 'PASS' : `FAIL (${failures.join('; ')})`}: ${report.filesAccounted}/${report.filesIn} files ` +
        `accounted, ${report.duplicates} duplicates, webhooks ${report.webhooksDelivered}/${report.webhooksExpected} ` +
        `(${report.webhookDuplicates} duplicates), ${report.runningTasksOnTerminalJobs} running tasks on terminal jobs; ` +
        `report in ${path.relative(ROOT, OUT)}/latest.{json,md}`,
    );
    return report.ok ? 0 : 1;
  } finally {
    await sampler.stop();
    await receiver.close();
    await stack.stopAll();
    redis.disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`chaos run failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
