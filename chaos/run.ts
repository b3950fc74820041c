/**
 * `npm run chaos [-- options]`: runs image jobs (a few corrupt images among them) and a video job
 * on a real stack — Redis (AOF), the api, two scheduler replicas and three workers with the
 * shapes-det model — while a seeded random schedule SIGKILLs and restarts workers, schedulers and
 * the api and stops Redis (SIGKILL or SHUTDOWN). Once the faults stop and everything settles it
 * checks that every job is terminal, every input file is in the results or the failure logs exactly
 * once, one webhook arrived per terminal job, no task still reads as running on a terminal job, and
 * that the metered time matches the leases; it writes reports/chaos/latest.{json,md} and exits 1
 * when a check fails.
 */
import { mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
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
import { createRedis } from '@visionbatch/shared/redis';
import { keys } from '@visionbatch/shared/redis-keys';
import { accountImages, accountVideos } from '../loadtest/accounting.ts';
import { ApiPollers } from '../loadtest/pollers.ts';
import { freePort, waitFor } from '../test/support/basics.ts';
import { meteredVsLeased, tallyWebhooks, verdict } from './accounting.ts';
import { FaultInjector } from './fault-injector.ts';
import { LeaseSampler } from './lease-sampler.ts';
import { type ChaosReport, type JobOutcome, renderMarkdown } from './report.ts';
import { chaosSchedule } from './schedule.ts';
import { ChaosStack } from './stack.ts';
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
const MAX_VIDEO_FPS = 5;
/** the workers' heartbeat interval under VB_LEASE_TTL_MS=4000 (machine.ts: min(1 s, TTL / 4)) */
const HEARTBEAT_MS = 1000;
const WS = 'chaos';
const MODEL_ID = 'shapes-det/1';
const WORKFLOW_ID = 'chaos';

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

async function main(): Promise<number> {
  const work = path.join(ROOT, '.data', 'chaos');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });

  say(`seed ${SEED}: generating the model, ${IMAGES} images and ${VIDEOS} video(s)`);
  const [model] = await writeModels(path.join(work, 'models'), { names: ['shapes-det'] });
  const imagesDir = path.join(work, 'images');
  const dataset = await generateImageDataset({
    dir: imagesDir,
    count: IMAGES,
    seed: SEED + 7,
    pngEvery: 0,
    sizes: [
      [320, 240],
      [480, 360],
    ],
  });
  await rm(dataset.groundTruthPath);
  const corrupt = new Set<string>();
  if (CORRUPT_EVERY > 0)
    for (let i = CORRUPT_EVERY - 1; i < dataset.files.length; i += CORRUPT_EVERY) {
      await truncate(path.join(imagesDir, dataset.files[i]), 600); // a JPEG header and nothing after it
      corrupt.add(dataset.files[i]);
    }
  const videosDir = path.join(work, 'videos');
  await mkdir(videosDir, { recursive: true });
  const videoFrames = new Map<string, number>();
  for (let v = 0; v < VIDEOS; v++) {
    const name = `clip-${v}.mp4`;
    const r = await generateVideo({
      path: path.join(videosDir, name),
      seconds: VIDEO_SECONDS,
      seed: SEED + v,
    });
    await rm(r.groundTruthPath);
    videoFrames.set(name, r.groundTruth.frameCount);
  }

  const [apiPort, redisPort] = [await freePort(), await freePort()];
  const schedulers = [1, 2].map(async (i) => ({
    name: `scheduler-${i}`,
    grpc: await freePort(),
    http: await freePort(),
  }));
  const sched = await Promise.all(schedulers);
  const stack = new ChaosStack(
    {
      VB_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      VB_DATA_DIR: path.join(work, 'data'),
      VB_API_PORT: String(apiPort),
      VB_API_KEYS: `chaos-key:${WS}`,
      // grpc-js's ipv4 resolver with pick_first: a client moves to the next replica when one dies.
      VB_SCHEDULER_URL: `ipv4:${sched.map((s) => `127.0.0.1:${s.grpc}`).join(',')}`,
      VB_URL_ALLOWLIST: '127.0.0.1',
      VB_LOG_LEVEL: 'info',
      VB_SCHEDULER_TICK_MS: '200',
      VB_LEADER_TTL_MS: '2000',
      VB_LEASE_TTL_MS: '4000',
      VB_TASK_LOCK_MS: '3000',
      VB_TASK_ATTEMPTS: '10',
      VB_IMAGES_PER_TASK: String(IMAGES_PER_TASK),
    },
    path.join(work, 'logs'),
    path.join(work, 'redis'),
  );
  stack.add({ name: 'redis', kind: 'redis', port: redisPort });
  stack.add({ name: 'api', kind: 'api', port: apiPort });
  for (const s of sched)
    stack.add({
      name: s.name,
      kind: 'scheduler',
      port: s.http,
      env: {
        VB_SCHEDULER_GRPC_PORT: String(s.grpc),
        VB_SCHEDULER_HTTP_PORT: String(s.http),
        VB_SCHEDULER_REPLICA_ID: s.name,
      },
    });
  for (let i = 1; i <= WORKERS; i++) {
    const port = await freePort();
    stack.add({
      name: `worker-${i}`,
      kind: 'worker',
      port,
      env: { VB_WORKER_HTTP_PORT: String(port), VB_WORKER_ID: `worker-${i}`, VB_WORKER_SLOTS: '1' },
    });
  }
  const receiver = new WebhookReceiver(WEBHOOK_FAIL_EVERY);
  const redis = createRedis(`redis://127.0.0.1:${redisPort}`);
  redis.on('error', () => {}); // Redis goes down on purpose; commands wait for it to come back
  const sampler = new LeaseSampler(redis);
  try {
    say(`starting redis, api, 2 schedulers, ${WORKERS} workers`);
    await stack.ensureAllUp();
    const hookUrl = await receiver.start();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const api = new ApiPollers(apiUrl, 'chaos-key', WS);
    const client = new ApiClient({ baseUrl: apiUrl, apiKey: 'chaos-key' });
    await uploadModel(client, { modelId: MODEL_ID, weights: model.onnxPath, config: model.configPath });
    await putWorkflow(client, WORKFLOW_ID, detectionWorkflow(MODEL_ID));
    say('staging the images (tar shards) and the videos');
    const quiet = { progress: { silent: true }, log: () => {} };
    await createBatchOfImages(client, { batchId: 'chaos-images', imagesDir, ...quiet });
    if (VIDEOS > 0) await createBatchOfVideos(client, { batchId: 'chaos-videos', videosDir, ...quiet });
    await retrying('image batch indexed', async () => (await api.count('chaos-images')) >= IMAGES);
    if (VIDEOS > 0)
      await retrying('video batch listed', async () => (await api.count('chaos-videos')) >= VIDEOS);

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
        const body = jobBody(j, hookUrl);
        await retrying(`job ${j.jobId} created`, async () => {
          const r = await api
            .call('POST', `/batch-processing/v1/external/${WS}/jobs/${j.jobId}`, body)
            .catch(() => null);
          if (r && r.status >= 400 && r.status < 500)
            throw new Error(`${r.status} ${JSON.stringify(r.json)}`);
          return r?.status === 200;
        });
        say(`job ${j.jobId} (${j.kind}) created`);
      }),
    );
    await injector.play(events, faultsStart);
    await creating;
    const faultsEnd = performance.now();
    say(`faults over (${injector.done.length} injected, ${injector.skipped} skipped: target already down)`);
    await stack.ensureAllUp();

    say('waiting for every job to be terminal');
    const states = new Map<string, string>();
    const settleDeadline = Date.now() + SETTLE_S * 1000;
    await waitFor(
      async () => {
        for (const j of planned) {
          if (states.has(j.jobId)) continue;
          const r = await api
            .call('GET', `/batch-processing/v1/external/${WS}/jobs/${j.jobId}`)
            .catch(() => null);
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
    for (const j of planned) {
      const state = states.get(j.jobId) ?? (await jobState(redis, j.jobId));
      const job = (await api.call('GET', `/batch-processing/v1/external/${WS}/jobs/${j.jobId}`)).json.job;
      const dir = path.join(work, 'export', j.jobId);
      const acc =
        j.kind === 'video'
          ? await accountVideos(client, api, j.jobId, videoFrames, MAX_VIDEO_FPS, dir).catch(() => null)
          : await accountImages(client, api, j.jobId, dataset.files, corrupt, dir).catch(() => null);
      const files = j.kind === 'video' ? [...videoFrames.keys()] : dataset.files;
      outcomes.push({
        jobId: j.jobId,
        kind: j.kind,
        state,
        filesIn: files.length,
        filesAccounted: acc?.accounted ?? 0,
        duplicates: acc?.duplicates ?? 0,
        runningTasks: await runningTasks(api, j.jobId),
        meteredSeconds: round(job?.computeUsage?.cpuSeconds ?? 0),
        missing: acc ? acc.missing : files,
      });
    }
    const webhooks = tallyWebhooks(receiver.deliveries, states);
    const metered = outcomes.reduce((s, o) => s + o.meteredSeconds, 0);
    const leased = meteredVsLeased(metered, sampler.seen.values(), HEARTBEAT_MS);
    const leakedQueueKeys = await leftQueues(redis, states);
    const jobsByState: Record<string, number> = {};
    for (const o of outcomes) jobsByState[o.state] = (jobsByState[o.state] ?? 0) + 1;
    const sum = (f: (o: JobOutcome) => number) => outcomes.reduce((s, o) => s + f(o), 0);
    const checks = {
      jobs: outcomes.length,
      terminalJobs: states.size,
      filesIn: sum((o) => o.filesIn),
      filesAccounted: sum((o) => o.filesAccounted),
      duplicates: sum((o) => o.duplicates),
      webhooks,
      runningTasksOnTerminalJobs: sum((o) => (states.has(o.jobId) ? o.runningTasks : 0)),
      leakedQueueKeys: leakedQueueKeys.length,
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
        corrupt: corrupt.size,
        videos: VIDEOS,
        videoSeconds: VIDEO_SECONDS,
        imagesPerTask: IMAGES_PER_TASK,
        workers: WORKERS,
        schedulers: sched.length,
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
      meteredVsLeasedRatio: leased.ratio === null ? null : round(leased.ratio, 3),
      leasesSeen: leased.leases,
      meteredVsLeasedDefinition:
        'Σ over jobs of computeUsage.cpuSeconds (GET job) ÷ Σ over every lease seen in Redis (sampled every ' +
        `200 ms) of (end − grant), the end being when the lease was last seen open but at most one heartbeat ` +
        `interval (${HEARTBEAT_MS} ms) after its last heartbeat. A released lease is billed up to its release ` +
        '(within one sample of the end seen); an expired one (its worker was killed) up to its last heartbeat, ' +
        'so it counts up to one interval more here than billed. Expect ≈ 1, a little under after worker ' +
        'kills; a lease opened and closed between two samples is billed but not seen.',
      leakedQueueKeys,
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
    await mkdir(String(opt.out), { recursive: true });
    await writeFile(path.join(String(opt.out), 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(path.join(String(opt.out), 'latest.md'), renderMarkdown(report));
    say(
      `${report.ok ? 'PASS' : `FAIL (${failures.join('; ')})`}: ${report.filesAccounted}/${report.filesIn} files ` +
        `accounted, ${report.duplicates} duplicates, webhooks ${report.webhooksDelivered}/${report.webhooksExpected} ` +
        `(${report.webhookDuplicates} duplicates), ${report.runningTasksOnTerminalJobs} running tasks on terminal jobs; ` +
        `report in ${path.relative(ROOT, String(opt.out))}/latest.{json,md}`,
    );
    return report.ok ? 0 : 1;
  } finally {
    await sampler.stop();
    await receiver.close();
    await stack.stopAll();
    redis.disconnect();
  }
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

/** The stored state of a job (`succeeded`, `failed`, `aborted`, …): the wire only says terminal and error. */
async function jobState(redis: ReturnType<typeof createRedis>, jobId: string): Promise<string> {
  return (await redis.hget(keys.job(WS, jobId), 'state')) ?? 'missing';
}

/** Tasks of a job whose status reads as running (`statusType: info`), through the public API. */
async function runningTasks(api: ApiPollers, jobId: string): Promise<number> {
  let running = 0;
  for (const stage of await api.stages(jobId)) {
    let token: string | null = null;
    do {
      const r = await api.call(
        'GET',
        `/batch-processing/v1/external/${WS}/jobs/${jobId}/stages/${stage.processingStageId}/tasks${token ? `?nextPageToken=${token}` : ''}`,
      );
      running += (r.json.tasks as Array<{ statusType: string }>).filter(
        (t) => t.statusType === 'info',
      ).length;
      token = r.json.nextPageToken ?? null;
    } while (token);
  }
  return running;
}

/**
 * Keys of terminal jobs' queues still in Redis without a TTL (BullMQ's short-lived markers, such as
 * a stalled-check key a closing worker writes, expire on their own and do not count).
 */
async function leftQueues(
  redis: ReturnType<typeof createRedis>,
  states: ReadonlyMap<string, string>,
): Promise<string[]> {
  const left = new Set<string>();
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `{vb}:job.${WS}.*`, 'COUNT', 1000);
    cursor = next;
    for (const k of found) {
      const queue = k.split(':')[1];
      const jobId = queue.split('.')[2];
      if (states.has(jobId) && (await redis.pttl(k)) === -1) left.add(k.slice('{vb}:'.length));
    }
  } while (cursor !== '0');
  return [...left].sort();
}

/** Counts of tell-tale log lines across the processes' logs. */
async function observedInLogs(dir: string): Promise<Record<string, number>> {
  const patterns: Record<string, string> = {
    staleAttemptsStopped: '"stale task attempt stopped"',
    leaderTakeovers: '"this scheduler replica leads"',
    leasesExpired: '"lease expired"',
    workerSchedulerUnreachable: '"scheduler unreachable; retrying"',
    replans: 'unaccounted tasks and an idle queue',
  };
  const out: Record<string, number> = Object.fromEntries(Object.keys(patterns).map((k) => [k, 0]));
  for (const f of await readdir(dir)) {
    const text = await readFile(path.join(dir, f), 'utf8');
    for (const [k, p] of Object.entries(patterns)) out[k] += text.split(p).length - 1;
  }
  return out;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`chaos run failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
