/**
 * The scheduler's parts and simulated machines wired in one process over the test Redis, for race
 * tests of the lifecycle: the real repos, planner, driver, outbox reaper, collector, control-plane
 * handlers and worker machines (with a no-op model step), without gRPC or child processes.
 */

import { Counter, Registry } from 'prom-client';
import { BatchesRepo } from '../../packages/shared/src/batches-repo.ts';
import { loadConfig } from '../../packages/shared/src/config.ts';
import type { SchedulerClient } from '../../packages/shared/src/grpc.ts';
import { JobsRepo } from '../../packages/shared/src/jobs-repo.ts';
import { createLogger } from '../../packages/shared/src/logger.ts';
import { createObjectStore } from '../../packages/shared/src/object-store/index.ts';
import type { ObjectStore } from '../../packages/shared/src/object-store/object-store.ts';
import { createRedis } from '../../packages/shared/src/redis.ts';
import { keys } from '../../packages/shared/src/redis-keys.ts';
import { systemClock } from '../../packages/shared/src/time.ts';
import type { WorkflowProcessingJob } from '../../packages/shared/src/wire/batch-processing.ts';
import { sweepExpiredBatches } from '../../services/scheduler/src/batch-gc.ts';
import { controlPlane } from '../../services/scheduler/src/control-plane.ts';
import { FaultPoints } from '../../services/scheduler/src/fault-points.ts';
import { collectEndedJobs } from '../../services/scheduler/src/job-collector.ts';
import { JobDriver } from '../../services/scheduler/src/job-driver.ts';
import { JobQueues } from '../../services/scheduler/src/job-queues.ts';
import { LeaseStore } from '../../services/scheduler/src/leases.ts';
import { Notifier } from '../../services/scheduler/src/notifier.ts';
import { OutboxReaper } from '../../services/scheduler/src/outbox.ts';
import { Planner } from '../../services/scheduler/src/planner.ts';
import { UrlAllowlist } from '../../services/scheduler/src/ssrf-guard.ts';
import { Machine } from '../../services/worker/src/machine.ts';
import { workerMetrics } from '../../services/worker/src/metrics.ts';
import { simulatedRunner } from '../../services/worker/src/simulated-runner.ts';
import type { StartRunner } from '../../services/worker/src/task-runner.ts';
import { holdLeader, TEST_LEADER } from '../support/job-fixtures.ts';

export const WS = 'ws1';

/** Counts of refused (fenced) writes by move, as `vb_fenced_writes_total` would count them. */
export type Refusals = Map<string, number>;

export interface Harness {
  config: ReturnType<typeof loadConfig>;
  redis: ReturnType<typeof createRedis>;
  store: ObjectStore;
  jobs: JobsRepo;
  batches: BatchesRepo;
  queues: JobQueues;
  leases: LeaseStore;
  planner: Planner;
  driver: JobDriver;
  reaper: OutboxReaper;
  handlers: ReturnType<typeof controlPlane>;
  refusals: Refusals;
  /** the leader token the harness's driver and planner act with */
  leader: { token: string | null };
  /** a driver acting with another token (a stale or competing replica) */
  driverWithToken(token: () => string | null): JobDriver;
  stageImages(batchId: string, n: number): Promise<string[]>;
  createJob(jobId: string, batchId: string, extra?: Partial<WorkflowProcessingJob>): Promise<void>;
  /** simulated machines serving jobs until `stop` (`startRunner` replaces the simulated runner) */
  startMachines(
    n: number,
    opts?: { startRunner?: StartRunner; env?: Record<string, string> },
  ): { stop(): Promise<void> };
  /** retention: terminal jobs past `retentionMs`, then expired batches; answers jobs collected */
  collect(retentionMs: number): Promise<number>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  /** tasks the planner adds per round trip */
  addChunk?: number;
  /** makes the job queues (tests gate `addBulk` to interleave an abort with planning) */
  makeQueues?: (connection: ReturnType<typeof createRedis>) => JobQueues;
}

export async function startHarness(
  redisUrl: string,
  storeDir: string,
  opts: HarnessOptions = {},
): Promise<Harness> {
  const env = opts.env ?? {};
  const config = loadConfig({
    VB_LOG_LEVEL: 'silent',
    VB_IMAGES_PER_TASK: '4',
    VB_LEASE_TTL_MS: '3000',
    VB_TASK_LOCK_MS: '5000',
    ...env,
  });
  const redis = createRedis(redisUrl);
  const logger = createLogger('lifecycle-test', 'silent');
  const refusals: Refusals = new Map();
  const jobs = new JobsRepo(redis, systemClock, {}, (kind, reason) =>
    refusals.set(`${kind}:${reason}`, (refusals.get(`${kind}:${reason}`) ?? 0) + 1),
  );
  const batches = new BatchesRepo(redis, systemClock, config.limits.batchTtlMs);
  const store = await createObjectStore({ driver: 'fs', dir: storeDir });
  const queues = opts.makeQueues ? opts.makeQueues(redis) : new JobQueues(redis);
  const leases = new LeaseStore(redis, systemClock);
  const leader = { token: TEST_LEADER as string | null };
  await holdLeader(redis);
  const faults = new FaultPoints([]);
  const plannerWithToken = (token: () => string | null) =>
    new Planner({
      config,
      jobs,
      batches,
      queues,
      clock: systemClock,
      logger,
      faults,
      leaderToken: token,
      machinesFor: async () => 1,
      segments: async () => [null],
      videoSample: async () => null,
      probeVideo: async () => true,
      addChunk: opts.addChunk,
    });
  const planner = plannerWithToken(() => leader.token);
  const driverWithToken = (token: () => string | null) =>
    new JobDriver({
      jobs,
      queues,
      planner: plannerWithToken(token),
      clock: systemClock,
      logger,
      faults,
      leaderToken: token,
    });
  const driver = driverWithToken(() => leader.token);
  const notifier = new Notifier(
    redis,
    logger,
    new Counter({ name: 'n', help: 'n', labelNames: ['outcome'], registers: [new Registry()] }),
    new UrlAllowlist([]),
  );
  const reaper = new OutboxReaper({
    redis,
    queues,
    notifier,
    webhookAuthorization: async (ws) => `pk_${ws}`,
    clock: systemClock,
    logger,
    faults,
    jobsEnded: new Counter({ name: 'e', help: 'e', labelNames: ['state'], registers: [new Registry()] }),
  });
  const handlers = controlPlane({
    jobs,
    leases,
    queues,
    driver,
    logger,
    meteredSeconds: new Counter({ name: 'm', help: 'm', labelNames: ['pool'], registers: [new Registry()] }),
  });
  const scheduler: SchedulerClient = { ...handlers, close: () => {} };
  const workerConnections: Array<ReturnType<typeof createRedis>> = [];
  return {
    config,
    redis,
    store,
    jobs,
    batches,
    queues,
    leases,
    planner,
    driver,
    reaper,
    handlers,
    refusals,
    leader,
    driverWithToken,
    async stageImages(batchId, n) {
      // input batches live an hour whatever VB_BATCH_TTL_S says (it is set short for output batches)
      const batches = new BatchesRepo(redis, systemClock, 3_600_000);
      await batches.ensure(WS, batchId, {
        displayName: batchId,
        batchType: 'simple-batch',
        contentType: 'images',
      });
      const names = Array.from({ length: n }, (_, i) => `img-${String(i).padStart(6, '0')}.jpg`);
      for (let i = 0; i < names.length; i += 1000)
        await batches.putFiles(
          WS,
          batchId,
          '',
          names.slice(i, i + 1000).map((name) => ({ name, rec: { contentType: 'image/jpeg', size: 1 } })),
        );
      return names;
    },
    async createJob(jobId, batchId, extra = {}) {
      const now = Date.now();
      const definition = {
        type: 'simple-image-processing-v1',
        jobInput: { type: 'staging-batch-input-v1', batchId },
        computeConfiguration: { type: 'compute-configuration-v2', machineType: 'cpu', workersPerMachine: 2 },
        processingSpecification: {
          type: 'workflows-processing-specification-v1',
          workspace: WS,
          workflowId: 'wf',
        },
        ...extra,
      } as WorkflowProcessingJob;
      await jobs.create(
        {
          jobId,
          workspace: WS,
          name: jobId,
          definition,
          lastNotification: null,
          createdAt: now,
        },
        { workflow: { version: '1.0', inputs: [], steps: [], outputs: [] }, models: {} },
      );
    },
    startMachines(n, mopts = {}) {
      const machines = Array.from({ length: n }, (_, i) => {
        const connection = createRedis(redisUrl);
        workerConnections.push(connection);
        const mConfig = loadConfig({
          VB_LOG_LEVEL: 'silent',
          VB_WORKER_ID: `sim-${i}`,
          VB_LEASE_TTL_MS: config.leaseTtlMs.toString(),
          VB_TASK_LOCK_MS: '5000',
          VB_WORKER_SLOTS: '2',
          ...mopts.env,
        });
        return new Machine({
          config: mConfig,
          scheduler,
          connection,
          jobs,
          logger,
          metrics: workerMetrics(new Registry()),
          startRunner: mopts.startRunner ?? simulatedRunner(store),
        });
      });
      const running = machines.map((m) => m.run());
      return {
        async stop() {
          await Promise.all(machines.map((m) => m.stop()));
          await Promise.all(running);
        },
      };
    },
    async collect(retentionMs) {
      let n = 0;
      for (;;) {
        const got = await collectEndedJobs({ jobs, queues, clock: systemClock, logger, retentionMs });
        n += got;
        if (got === 0) break;
      }
      while ((await sweepExpiredBatches({ batches, store, clock: systemClock, logger })) > 0) {}
      return n;
    },
    async close() {
      await notifier.close();
      await queues.closeAll();
      for (const c of workerConnections) c.disconnect();
      redis.disconnect();
    },
  };
}

/** Redis keys of a job's BullMQ queues (any epoch). */
export async function queueKeys(redis: Harness['redis'], jobId: string): Promise<string[]> {
  return redis.keys(`${keys.job(WS, jobId).split(':')[0]}:job.${WS}.${jobId}.e*`);
}
