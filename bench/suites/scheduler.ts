import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient, createBatchOfImages, putWorkflow, uploadModel } from '@visionbatch/cli';
import { detectionWorkflow, generateImageDataset, writeModels } from '@visionbatch/models';
import { BatchesRepo } from '@visionbatch/shared/batches-repo';
import { loadConfig } from '@visionbatch/shared/config';
import { abortJob } from '@visionbatch/shared/job-ending';
import { type JobRecord, JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { jobQueueName } from '@visionbatch/shared/queues';
import { createRedis } from '@visionbatch/shared/redis';
import { keys } from '@visionbatch/shared/redis-keys';
import { systemClock } from '@visionbatch/shared/time';
import type { WorkflowProcessingJob } from '@visionbatch/shared/wire/batch-processing';
import { FaultPoints } from '../../services/scheduler/src/fault-points.ts';
import { JobQueues } from '../../services/scheduler/src/job-queues.ts';
import { Planner } from '../../services/scheduler/src/planner.ts';
import { tempDir, waitFor } from '../../test/support/basics.ts';
import { BenchStack, startRedis } from '../support.ts';
import type { Suite } from './index.ts';

const PLAN_FILES = Number(process.env.VB_BENCH_PLAN_FILES ?? 1_000_000);
const round = (x: number, d = 2) => Number(x.toFixed(d));
const WORKFLOW = detectionWorkflow('shapes-det/1');

/** Plans the processing stage of a synthetic 1,000,000-image batch in this process; time and peak RSS. */
async function planMillion(redisUrl: string): Promise<Record<string, number>> {
  const redis = createRedis(redisUrl);
  const config = loadConfig({ VB_REDIS_URL: redisUrl, VB_LOG_LEVEL: 'silent' });
  const batches = new BatchesRepo(redis, systemClock, config.limits.batchTtlMs);
  const jobs = new JobsRepo(redis, systemClock);
  await batches.ensure('bench', 'million', {
    displayName: 'million',
    batchType: 'simple-batch',
    contentType: 'images',
  });
  for (let i = 0; i < PLAN_FILES; i += 10_000) {
    const args: string[] = [];
    for (let j = i; j < Math.min(PLAN_FILES, i + 10_000); j++)
      args.push('0', `img-${String(j).padStart(7, '0')}.jpg`);
    await redis.zadd(keys.batchFiles('bench', 'million', ''), ...args);
  }
  const def: WorkflowProcessingJob = {
    type: 'simple-image-processing-v1',
    jobInput: { type: 'staging-batch-input-v1', batchId: 'million' },
    computeConfiguration: { type: 'compute-configuration-v2' },
    processingSpecification: {
      type: 'workflows-processing-specification-v1',
      workspace: 'bench',
      workflowId: 'wf',
    },
  };
  const now = Date.now();
  await jobs.create(
    {
      jobId: 'plan1m',
      workspace: 'bench',
      name: 'plan1m',
      definition: def,
      lastNotification: null,
      createdAt: now,
    },
    { workflow: WORKFLOW, models: {} },
  );
  const rec = (await jobs.get('bench', 'plan1m')) as JobRecord;
  const logger = createLogger('bench', 'silent');
  const queues = new JobQueues(redis);
  await redis.set(keys.schedulerLeader(), 'bench-leader');
  const planner = new Planner({
    config,
    jobs,
    batches,
    queues,
    clock: systemClock,
    logger,
    faults: new FaultPoints([]),
    leaderToken: () => 'bench-leader',
    machinesFor: async () => config.autoscaler.pools.cpu.max,
    segments: async () => [null],
    videoSample: async () => null,
    probeVideo: async () => true,
  });
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const t0 = performance.now();
  await planner.planProcessing(rec, { epoch: rec.epoch, leaderToken: 'bench-leader' });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const stage = await jobs.getStage('bench', 'plan1m', 'processing');
  // The planned job must not compete for the machines of the end-to-end part (same Redis): end it
  // and remove its million-task queue.
  await abortJob(jobs, 'bench', 'plan1m');
  await queues.destroy(jobQueueName('bench', 'plan1m', rec.epoch));
  await queues.closeAll();
  // this process acted as the leader to plan: hand the lease to the real scheduler of the next part
  await redis.del(keys.schedulerLeader());
  redis.disconnect();
  return {
    plan1MFiles: PLAN_FILES,
    plan1MTasks: stage?.tasksNumber ?? 0,
    plan1MSeconds: round(seconds),
    plan1MPeakRssMiB: round(peak / 2 ** 20, 1),
    plan1MRssGrowthMiB: round((peak - rssBefore) / 2 ** 20, 1),
  };
}

/**
 * Scheduler overheads. `plan1M*`: planning a 1,000,000-image batch (in-process, bounded memory);
 * `submitToFirstTaskMs`: job created → first task running on a warm machine (real processes);
 * `overheadPerTaskMs`: wall time per task of one-image tasks beyond the images' own processing.
 */
export const schedulerSuite: Suite = {
  describe:
    'Planning a 1,000,000-image batch (time, peak RSS of the planning process), job submit to first running task on a warm worker, and the scheduling overhead per task (tasks of one image).',
  async run() {
    const dir = await tempDir('vb-bench-sched-');
    const redis = await startRedis(dir);
    try {
      console.error('plan 1M ...');
      const plan = await planMillion(redis.url);
      console.error(JSON.stringify(plan));
      // Real processes; the same Redis serves both stacks (the second one plans 1 image per task).
      const session = async (
        imagesPerTask: string,
        prefix: string,
        setup: boolean,
        machine: { slots: number; job?: Record<string, unknown> } = { slots: 1 },
      ) => {
        const stack = await BenchStack.create(redis.url, path.join(dir, 'data'));
        stack.env.VB_SCHEDULER_TICK_MS = '100';
        stack.env.VB_IMAGES_PER_TASK = imagesPerTask;
        try {
          await stack.start('api');
          await stack.start('scheduler');
          await stack.start('worker', { VB_WORKER_SLOTS: String(machine.slots) });
          const client = new ApiClient({ baseUrl: stack.apiUrl, apiKey: stack.apiKey });
          if (setup) {
            const [model] = await writeModels(path.join(dir, 'models'), { names: ['shapes-det'] });
            await uploadModel(client, {
              modelId: 'shapes-det/1',
              weights: model.onnxPath,
              config: model.configPath,
            });
            await putWorkflow(client, 'wf', WORKFLOW);
            const imagesDir = path.join(dir, 'images');
            const ds = await generateImageDataset({ dir: imagesDir, count: 24, seed: 1 });
            fs.rmSync(ds.groundTruthPath);
            await createBatchOfImages(client, {
              batchId: 'small',
              imagesDir,
              progress: { silent: true },
              log: () => {},
            });
          }
          const BP = `/batch-processing/v1/external/${stack.workspace}`;
          const runJob = async (jobId: string) => {
            const b = {
              type: 'simple-image-processing-v1',
              jobInput: { type: 'staging-batch-input-v1', batchId: 'small' },
              computeConfiguration: { type: 'compute-configuration-v2', workersPerMachine: machine.slots },
              ...machine.job,
              processingSpecification: {
                type: 'workflows-processing-specification-v1',
                workspace: stack.workspace,
                workflowId: 'wf',
                persistImagesOutputs: false,
              },
            };
            const t0 = performance.now();
            const r = await stack.call('POST', `${BP}/jobs/${jobId}`, b);
            if (r.status !== 200) throw new Error(JSON.stringify(r.json));
            let firstTaskMs = 0;
            await waitFor(
              async () => {
                if (!firstTaskMs) {
                  const t = await stack.call('GET', `${BP}/jobs/${jobId}/stages/processing/tasks`);
                  if (t.status === 200 && t.json.tasks.length > 0) firstTaskMs = performance.now() - t0;
                }
                return (await stack.call('GET', `${BP}/jobs/${jobId}`)).json.job.isTerminal;
              },
              { timeoutMs: 180_000, intervalMs: 20, message: `${jobId} terminal` },
            );
            const totalMs = performance.now() - t0;
            const st = (await stack.call('GET', `${BP}/jobs/${jobId}/stages`)).json.stages as Array<{
              processingStageName: string;
              tasksNumber: number;
            }>;
            return {
              firstTaskMs,
              totalMs,
              tasks: st.find((x) => x.processingStageName === 'processing')?.tasksNumber ?? 0,
            };
          };
          await runJob(`${prefix}-warm`); // model load and first lease
          const runs = [];
          for (let i = 0; i < 3; i++) runs.push(await runJob(`${prefix}-${i}`));
          return runs;
        } finally {
          await stack.stop();
        }
      };
      console.error('jobs of 24 images in one task ...');
      const one = await session('256', 'one', true);
      console.error('jobs of 24 images in 24 tasks ...');
      const many = await session('1', 'many', false);
      // A 24-image job on one machine of 2 slots: before task sizing it was one task on one slot
      // (maxParallelTasks 1 plans it that way today), now it is split across both slots.
      console.error('jobs of 24 images on a 2-slot machine: one task vs sized tasks ...');
      const oneSlotUsed = await session('256', 'slot1', false, { slots: 2, job: { maxParallelTasks: 1 } });
      const bothSlots = await session('256', 'slot2', false, { slots: 2 });
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const firsts = one.map((r) => r.firstTaskMs);
      const overhead = (med(many.map((r) => r.totalMs)) - med(one.map((r) => r.totalMs))) / (24 - 1);
      return {
        ...plan,
        submitToFirstTaskMs: round(med(firsts), 0),
        submitToFirstTaskRunsMs: firsts.map((x) => round(x, 0)),
        job24In1TaskMs: round(med(one.map((r) => r.totalMs)), 0),
        job24In24TasksMs: round(med(many.map((r) => r.totalMs)), 0),
        tasksPerJob: { oneTask: one[0].tasks, manyTasks: many[0].tasks },
        overheadPerTaskMs: round(overhead, 1),
        job24On2SlotsOneTaskMs: round(med(oneSlotUsed.map((r) => r.totalMs)), 0),
        job24On2SlotsSizedMs: round(med(bothSlots.map((r) => r.totalMs)), 0),
        job24On2SlotsTasks: { oneTask: oneSlotUsed[0].tasks, sized: bothSlots[0].tasks },
        job24On2SlotsSpeedup: round(
          med(oneSlotUsed.map((r) => r.totalMs)) / med(bothSlots.map((r) => r.totalMs)),
          2,
        ),
      };
    } finally {
      redis.proc.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
