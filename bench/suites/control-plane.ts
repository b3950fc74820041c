/**
 * The control plane at scale, by simulation: 2 scheduler replicas and the api as processes, and
 * simulated worker machines (the worker's real `Machine`: leases, heartbeats, task locks, fenced
 * writes, listings, export; the model step a no-op) in a few processes, over one staged batch of
 * small files. The file records are staged straight into Redis with BatchesRepo.putFiles: ingest has
 * its own suite, and what is measured here starts at job creation.
 */
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient, putWorkflow, uploadModel } from '@visionbatch/cli';
import { detectionWorkflow, writeModels } from '@visionbatch/models';
import { BatchesRepo } from '@visionbatch/shared/batches-repo';
import { JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createRedis } from '@visionbatch/shared/redis';
import { keys } from '@visionbatch/shared/redis-keys';
import { systemClock } from '@visionbatch/shared/time';
import type { Redis } from 'ioredis';
import { freePort, tempDir, waitFor } from '../../test/support/basics.ts';
import type { MachineSamples, TimedCall } from '../control-plane-machines.ts';
import { BenchStack, cpuSecondsOf, startRedis } from '../support.ts';
import type { Suite } from './index.ts';

const FILES = Number(process.env.VB_BENCH_CP_FILES ?? 200_000);
const MACHINES = Number(process.env.VB_BENCH_CP_MACHINES ?? 200);
const PROCESSES = Number(process.env.VB_BENCH_CP_PROCESSES ?? 4);
const WS = 'bench';
const BATCH = 'cp-files';
const RUNS = Number(process.env.VB_BENCH_RUNS ?? 3);
const here = path.dirname(fileURLToPath(import.meta.url));
const round = (x: number, d = 2) => Number(x.toFixed(d));

/** The q-quantile (nearest rank) of `xs`, ms. */
function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

async function redisInfo(redis: Redis, field: string, section: string): Promise<number> {
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(await redis.info(section));
  return m ? Number(m[1]) : 0;
}

/**
 * Σ MEMORY USAGE of every key matching one of `patterns` (the keys' own footprint, without client
 * buffers), and per key as `label` names it.
 */
async function keysBytes(
  redis: Redis,
  patterns: string[],
  label: (key: string) => string = (k) => k,
): Promise<{ keys: number; bytes: number; byKey: Record<string, number> }> {
  let n = 0;
  let bytes = 0;
  const byKey: Record<string, number> = {};
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const k of found) {
        const b = Number(await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) || 0;
        n++;
        bytes += b;
        byKey[label(k)] = b;
      }
    } while (cursor !== '0');
  }
  return { keys: n, bytes, byKey };
}

/** Stages FILES small file records (≈ 20 B names, a JSON record each) in chunks. */
async function stageFiles(batches: BatchesRepo): Promise<void> {
  await batches.ensure(WS, BATCH, { displayName: BATCH, batchType: 'simple-batch', contentType: 'images' });
  const chunk = 5000;
  for (let i = 0; i < FILES; i += chunk) {
    const files = [];
    for (let j = i; j < Math.min(FILES, i + chunk); j++)
      files.push({
        name: `img-${String(j).padStart(7, '0')}.jpg`,
        rec: { contentType: 'image/jpeg', size: 20_000 },
      });
    await batches.putFiles(WS, BATCH, '', files);
  }
}

/** Starts a process of `n` simulated machines; resolves once they run. */
function startMachines(env: Record<string, string>, n: number, prefix: string): Promise<ChildProcess> {
  const child = fork(path.join(here, '..', 'control-plane-machines.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, VB_BENCH_MACHINES: String(n), VB_BENCH_MACHINE_PREFIX: prefix },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`machines process exited with ${code}`)));
  });
}

function stopMachines(child: ChildProcess): Promise<MachineSamples> {
  return new Promise((resolve) => {
    child.on('message', (m: { samples?: MachineSamples }) => m.samples && resolve(m.samples));
    child.send('stop');
  });
}

/** When a job reached each phase (ms since epoch), polled from Redis. */
async function watchPhases(jobs: JobsRepo, jobId: string): Promise<Record<string, number>> {
  const at: Record<string, number> = {};
  await waitFor(
    async () => {
      const now = Date.now();
      const [rec, stages] = await Promise.all([jobs.get(WS, jobId), jobs.stages(WS, jobId)]);
      for (const s of stages) at[`${s.processingStageId}:${s.state}`] ??= now;
      return rec?.isTerminal;
    },
    { timeoutMs: 1_800_000, intervalMs: 50, message: `${jobId} terminal` },
  );
  return at;
}

/** Every Redis key of a job: its own, its output batches', its queue's. */
const jobKeyPatterns = (jobId: string) => [
  `{vb}:job:${WS}:${jobId}`,
  `{vb}:job:${WS}:${jobId}:*`,
  `{vb}:batch:${WS}:${jobId}-*`,
  `{vb}:job.${WS}.${jobId}.*`,
];

interface Run {
  jobId: string;
  t0: number;
  t1: number;
  state: string;
  filesOk: number;
  tasks: { processing: number; export: number };
  imagesPerTask: number;
  phases: Record<string, number>;
  commands: number;
  cpu: Record<string, number>;
}

export const controlPlaneSuite: Suite = {
  describe: `${FILES} staged files (records put straight into Redis), image jobs run one after the other by 2 scheduler replicas and ${MACHINES} simulated machines (the worker's Machine with a no-op model step) in ${PROCESSES} processes; filesPerSec = files ÷ (job created → terminal), median of ${RUNS} jobs; gRPC latency at the client; Redis ops/s, bytes per staged file and per finished job. See bench/README.md.`,
  async run() {
    const dir = await tempDir('vb-bench-cp-');
    const redisProc = await startRedis(dir);
    const redis = createRedis(redisProc.url);
    const stack = await BenchStack.create(redisProc.url, path.join(dir, 'data'));
    const replicas = await Promise.all(
      [1, 2].map(async (i) => ({ id: `scheduler-${i}`, grpc: await freePort(), http: await freePort() })),
    );
    const urls = [replicas, [...replicas].reverse()].map(
      (order) => `ipv4:${order.map((r) => `127.0.0.1:${r.grpc}`).join(',')}`,
    );
    const machineProcs: ChildProcess[] = [];
    try {
      const api = await stack.start('api');
      const schedulers = [];
      for (const r of replicas)
        schedulers.push(
          await stack.start('scheduler', {
            VB_SCHEDULER_GRPC_PORT: String(r.grpc),
            VB_SCHEDULER_HTTP_PORT: String(r.http),
            VB_SCHEDULER_REPLICA_ID: r.id,
          }),
        );
      const client = new ApiClient({ baseUrl: stack.apiUrl, apiKey: stack.apiKey });
      const [model] = await writeModels(path.join(dir, 'models'), { names: ['shapes-det'] });
      await uploadModel(client, {
        modelId: 'shapes-det/1',
        weights: model.onnxPath,
        config: model.configPath,
      });
      await putWorkflow(client, 'wf', detectionWorkflow('shapes-det/1'));

      const batches = new BatchesRepo(redis, systemClock, 7 * 24 * 3600 * 1000);
      const jobs = new JobsRepo(redis, systemClock);
      const memBase = await redisInfo(redis, 'used_memory', 'memory');
      console.error(`staging ${FILES} file records ...`);
      await stageFiles(batches);
      const memStaged = await redisInfo(redis, 'used_memory', 'memory');
      const staged = await keysBytes(redis, [`{vb}:batch:${WS}:${BATCH}:*`]);

      console.error(`starting ${MACHINES} simulated machines in ${PROCESSES} processes ...`);
      for (let p = 0; p < PROCESSES; p++) {
        const n = Math.floor(MACHINES / PROCESSES) + (p < MACHINES % PROCESSES ? 1 : 0);
        // Half the processes list the replicas the other way round: pick_first spreads them over both.
        machineProcs.push(await startMachines({ ...stack.env, VB_SCHEDULER_URL: urls[p % 2] }, n, `sim${p}`));
      }
      await waitFor(async () => (await redis.zcard(keys.poolMachines('cpu'))) >= MACHINES, {
        timeoutMs: 120_000,
        intervalMs: 200,
        message: `${MACHINES} machines seen by the scheduler`,
      });
      const pids = {
        api: [api.pid ?? 0],
        schedulers: schedulers.map((s) => s.pid ?? 0),
        machines: machineProcs.map((m) => m.pid ?? 0),
        redis: [redisProc.proc.pid ?? 0],
      };
      const cpu = () =>
        Object.fromEntries(
          Object.entries(pids).map(([k, ps]) => [k, ps.reduce((s, p) => s + cpuSecondsOf(p), 0)]),
        );

      const runs: Run[] = [];
      let perJob: { keys: number; bytes: number; byKey: Record<string, number> } | null = null;
      let memFinished = memStaged;
      const opsSamples: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const jobId = `cp-run${i}`;
        const cmds0 = await redisInfo(redis, 'total_commands_processed', 'stats');
        const cpu0 = cpu();
        const opsTimer = setInterval(() => {
          redisInfo(redis, 'instantaneous_ops_per_sec', 'stats').then(
            (v) => opsSamples.push(v),
            () => {},
          );
        }, 1000);
        const t0 = Date.now();
        const created = await stack.call('POST', `/batch-processing/v1/external/${WS}/jobs/${jobId}`, {
          type: 'simple-image-processing-v1',
          jobInput: { type: 'staging-batch-input-v1', batchId: BATCH },
          computeConfiguration: {
            type: 'compute-configuration-v2',
            machineType: 'cpu',
            workersPerMachine: 1,
          },
          processingSpecification: {
            type: 'workflows-processing-specification-v1',
            workspace: WS,
            workflowId: 'wf',
            aggregationFormat: 'jsonl',
          },
        });
        if (created.status !== 200)
          throw new Error(`job creation: ${created.status} ${JSON.stringify(created.json)}`);
        const phases = await watchPhases(jobs, jobId);
        const t1 = Date.now();
        clearInterval(opsTimer);
        const cmds1 = await redisInfo(redis, 'total_commands_processed', 'stats');
        const cpu1 = cpu();
        const processing = await jobs.getStage(WS, jobId, 'processing');
        const exportStage = await jobs.getStage(WS, jobId, 'export');
        runs.push({
          jobId,
          t0,
          t1,
          state: (await jobs.get(WS, jobId))?.state ?? 'missing',
          filesOk: (await jobs.stageFileCounts(WS, jobId, 'processing')).ok,
          tasks: { processing: processing?.tasksNumber ?? 0, export: exportStage?.tasksNumber ?? 0 },
          imagesPerTask: processing?.imagesPerTask ?? 0,
          phases,
          commands: cmds1 - cmds0,
          cpu: Object.fromEntries(Object.entries(cpu1).map(([k, v]) => [k, v - cpu0[k]])),
        });
        console.error(`${jobId}: ${runs.at(-1)?.state} in ${((t1 - t0) / 1000).toFixed(2)} s`);
        // Let the machines release their leases and the outbox remove the queue before the next job.
        await waitFor(
          async () => (await redis.zcard(keys.leases())) === 0 && (await redis.hlen(keys.outbox())) === 0,
          { timeoutMs: 60_000, intervalMs: 200, message: 'leases released and outbox empty' },
        );
        if (i === 0) {
          memFinished = await redisInfo(redis, 'used_memory', 'memory');
          perJob = await keysBytes(redis, jobKeyPatterns(jobId), (k) =>
            k.replace('{vb}:', '').replaceAll(jobId, '<job>'),
          );
        }
      }
      const samples = await Promise.all(machineProcs.map(stopMachines));
      const during = (name: TimedCall) =>
        samples
          .flatMap((s) => s.calls[name])
          .filter(([at]) => runs.some((r) => at >= r.t0 && at <= r.t1))
          .map(([, ms]) => ms);
      const lease = during('LeaseJob');
      const beat = during('Heartbeat');
      const secondsOf = (r: Run) => (r.t1 - r.t0) / 1000;
      const byRate = [...runs].sort((a, b) => secondsOf(a) - secondsOf(b));
      const median = byRate[Math.floor(byRate.length / 2)];
      const since = (r: Run, phase: string) =>
        r.phases[phase] === undefined ? null : round((r.phases[phase] - r.t0) / 1000);
      const totalSeconds = runs.reduce((s, r) => s + secondsOf(r), 0);
      const totalCommands = runs.reduce((s, r) => s + r.commands, 0);
      return {
        files: FILES,
        machines: MACHINES,
        machineProcesses: PROCESSES,
        schedulerReplicas: replicas.length,
        jobs: runs.length,
        jobStates: runs.map((r) => r.state),
        filesProcessedPerJob: runs.map((r) => r.filesOk),
        imagesPerTask: median.imagesPerTask,
        tasksPerJob: median.tasks,
        filesPerSec: round(FILES / secondsOf(median), 0),
        filesPerSecRuns: runs.map((r) => round(FILES / secondsOf(r), 0)),
        jobSeconds: round(secondsOf(median)),
        phasesSecondsOfMedianJob: {
          processingPlanned: since(median, 'processing:running'),
          processingDone: since(median, 'processing:succeeded'),
          exportPlanned: since(median, 'export:running'),
          terminal: round(secondsOf(median)),
        },
        leaseCalls: lease.length,
        leaseP50Ms: round(quantile(lease, 0.5)),
        leaseP99Ms: round(quantile(lease, 0.99)),
        heartbeatCalls: beat.length,
        heartbeatP50Ms: round(quantile(beat, 0.5)),
        heartbeatP99Ms: round(quantile(beat, 0.99)),
        machineEventLoopDelayP99Ms: round(Math.max(...samples.map((s) => s.eventLoopDelayP99Ms))),
        redisOpsPerSec: round(totalCommands / totalSeconds, 0),
        redisOpsPerSecPeak: Math.max(0, ...opsSamples),
        redisCommandsPerFile: round(totalCommands / (FILES * runs.length), 3),
        redisBytesPerStagedFile: round(staged.bytes / FILES, 1),
        redisUsedMemoryPerStagedFile: round((memStaged - memBase) / FILES, 1),
        redisBytesPerFinishedJob: perJob?.bytes ?? 0,
        redisKeysPerFinishedJob: perJob?.keys ?? 0,
        redisBytesPerFinishedJobByKey: perJob?.byKey ?? {},
        redisUsedMemoryGrowthFirstJob: memFinished - memStaged,
        cpuSecondsPerJob: Object.fromEntries(
          Object.keys(pids).map((k) => [k, round(runs.reduce((s, r) => s + r.cpu[k], 0) / runs.length, 2)]),
        ),
        goal: { filesPerSec: 1000, redisBytesPerStagedFile: 300 },
      };
    } finally {
      await Promise.all(machineProcs.filter((m) => m.exitCode === null).map((m) => m.kill('SIGKILL')));
      await stack.stop();
      redis.disconnect();
      redisProc.proc.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
