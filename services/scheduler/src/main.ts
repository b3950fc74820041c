import { BatchesRepo } from '@visionbatch/shared/batches-repo';
import { loadConfig } from '@visionbatch/shared/config';
import { controlPlaneCredentials, startSchedulerServer } from '@visionbatch/shared/grpc';
import { JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { createMetricsRegistry, fencedWritesCounter } from '@visionbatch/shared/metrics';
import { createObjectStore } from '@visionbatch/shared/object-store/index';
import { startOpsServer } from '@visionbatch/shared/ops-server';
import { createRedis } from '@visionbatch/shared/redis';
import { systemClock } from '@visionbatch/shared/time';
import { WorkspaceWebhookSecrets } from '@visionbatch/shared/webhook-auth';
import { Counter, Gauge } from 'prom-client';
import { type Actuator, StaticActuator } from './autoscaler/actuator.ts';
import { Autoscaler } from './autoscaler/autoscaler.ts';
import { LocalActuator } from './autoscaler/local-actuator.ts';
import { sweepExpiredBatches } from './batch-gc.ts';
import { controlPlane } from './control-plane.ts';
import { FaultPoints } from './fault-points.ts';
import { startIngestWorker } from './ingest/ingest-worker.ts';
import { collectEndedJobs } from './job-collector.ts';
import { JobDriver } from './job-driver.ts';
import { JobQueues } from './job-queues.ts';
import { LeaderLease } from './leader.ts';
import { startLeaderLoops } from './leader-loops.ts';
import { expireStaleLeases } from './lease-expiry.ts';
import { LeaseStore } from './leases.ts';
import { Notifier } from './notifier.ts';
import { OutboxReaper } from './outbox.ts';
import { Planner } from './planner.ts';
import { startReferenceIngestWorker } from './reference-ingest.ts';
import { UrlAllowlist } from './ssrf-guard.ts';
import { probeVideo, videoSampleRange, videoSegments } from './video-segments.ts';

// The scheduler's composition root: config → dependencies → gRPC + ops HTTP + reconcile loop.
const config = loadConfig();
const logger = createLogger('scheduler', config.logLevel);
const redis = createRedis(config.redis);
const metrics = createMetricsRegistry('scheduler');

const meteredSeconds = new Counter({
  name: 'vb_metered_compute_seconds_total',
  help: 'Machine time billed to jobs, by pool',
  labelNames: ['pool'],
  registers: [metrics],
});
// Both pools from the start, so dashboards and alerts see 0 rather than no series.
for (const pool of ['cpu', 'gpu']) meteredSeconds.inc({ pool }, 0);
const jobsEnded = new Counter({
  name: 'vb_jobs_ended_total',
  help: 'Jobs that reached a terminal state',
  labelNames: ['state'],
  registers: [metrics],
});
const webhookDeliveries = new Counter({
  name: 'vb_webhook_deliveries_total',
  help: 'Webhook delivery attempts by outcome',
  labelNames: ['outcome'],
  registers: [metrics],
});

const indexedFiles = new Counter({
  name: 'vb_ingest_files_total',
  help: 'Files of tar shards indexed, by outcome',
  labelNames: ['outcome'],
  registers: [metrics],
});

const fencedWrites = fencedWritesCounter(metrics);
const leasesExpired = new Counter({
  name: 'vb_leases_expired_total',
  help: 'Machine leases closed because their machine stopped heartbeating, by pool',
  labelNames: ['pool'],
  registers: [metrics],
});
for (const pool of ['cpu', 'gpu']) leasesExpired.inc({ pool }, 0);
const store = await createObjectStore(config.store);
const jobs = new JobsRepo(redis, systemClock, { maxLogLines: config.lifecycle.maxLogLines }, (kind, reason) =>
  fencedWrites.inc({ kind, reason }),
);
const leases = new LeaseStore(redis, systemClock);
const faults = new FaultPoints(config.lifecycle.faultPoints);
const leader = new LeaderLease(redis, config.lifecycle.replicaId, config.lifecycle.leaderTtlMs, logger);
const queues = new JobQueues(redis);
const urlAllowlist = new UrlAllowlist(config.scheduler.urlAllowlist);
const notifier = new Notifier(redis, logger, webhookDeliveries, urlAllowlist, {
  deadlineMs: config.scheduler.deadlines.webhookMs,
  dnsTimeoutMs: config.scheduler.deadlines.dnsMs,
  // every attempt of a job's webhook goes into the job's log (fetch-logs, the console's job page)
  onJobAttempt: (job, attempt) =>
    jobs.log(job.workspace, job.jobId, {
      processingStageId: null,
      taskId: null,
      severity: attempt.outcome === 'delivered' ? 'info' : attempt.willRetry ? 'warning' : 'error',
      reportingModule: 'scheduler',
      logType: 'webhook-delivery',
      payload: attempt as unknown as Record<string, unknown>,
    }),
});
const batches = new BatchesRepo(redis, systemClock, config.limits.batchTtlMs);
const webhookAuth = new WorkspaceWebhookSecrets(redis, config.scheduler.publishableKeys);
const leaderToken = () => leader.current;
const videoDeps = { store, batches, logger, segmentSeconds: config.limits.videoSegmentSeconds };
const planner = new Planner({
  config,
  jobs,
  batches,
  queues,
  clock: systemClock,
  logger,
  faults,
  leaderToken,
  // A static pool is what runs now; an autoscaled one may grow to its max.
  machinesFor: async (pool) =>
    Math.max(
      config.autoscaler.actuator === 'static' ? 1 : config.autoscaler.pools[pool].max,
      (await leases.liveMachines(pool, config.leaseTtlMs)).length,
    ),
  segments: (ws, input, name) => videoSegments(videoDeps, ws, input, name),
  videoSample: (ws, input, name, seconds) => videoSampleRange(videoDeps, ws, input, name, seconds),
  probeVideo: (ws, input, name) => probeVideo(videoDeps, ws, input, name),
});
const driver = new JobDriver({ jobs, queues, planner, clock: systemClock, logger, faults, leaderToken });
const reaper = new OutboxReaper({
  redis,
  queues,
  notifier,
  webhookAuthorization: (ws) => webhookAuth.authorizationFor(ws),
  clock: systemClock,
  logger,
  faults,
  jobsEnded,
});

new Gauge({
  name: 'vb_active_jobs',
  help: 'Jobs not yet terminal',
  registers: [metrics],
  async collect() {
    this.set((await jobs.activeJobs()).length);
  },
});
new Gauge({
  name: 'vb_pool_machines',
  help: 'Live worker machines by pool',
  labelNames: ['pool'],
  registers: [metrics],
  async collect() {
    for (const pool of ['cpu', 'gpu'] as const)
      this.set({ pool }, (await leases.liveMachines(pool, config.leaseTtlMs)).length);
  },
});

const poolDesired = new Gauge({
  name: 'vb_pool_desired_machines',
  help: 'Machines the autoscaler wants per pool (drive HPA/KEDA from it with VB_AUTOSCALER=static)',
  labelNames: ['pool'],
  registers: [metrics],
});
const poolTarget = new Gauge({
  name: 'vb_pool_target_machines',
  help: 'Machines the autoscaler actuator has set per pool (replicas, local child processes)',
  labelNames: ['pool'],
  registers: [metrics],
});
const poolThroughput = new Gauge({
  name: 'vb_pool_files_per_machine_second',
  help: 'Per-machine throughput the autoscaler uses per pool (measured, else VB_AUTOSCALER_FILES_PER_MACHINE_S)',
  labelNames: ['pool'],
  registers: [metrics],
});
const autoscalerErrors = new Counter({
  name: 'vb_autoscaler_errors_total',
  help: 'Failed attempts of the autoscaler actuator, by pool and reason (forbidden, not-found, conflict, unavailable, spawn)',
  labelNames: ['pool', 'reason'],
  registers: [metrics],
});

const grpc = await startSchedulerServer(
  controlPlane({ jobs, leases, queues, driver, logger, meteredSeconds }),
  config.scheduler.grpcHost,
  config.scheduler.grpcPort,
  controlPlaneCredentials(config),
);
notifier.start();
const grpcHost = ['0.0.0.0', '::', ''].includes(config.scheduler.grpcHost)
  ? '127.0.0.1'
  : config.scheduler.grpcHost;
let actuator: Actuator;
if (config.autoscaler.actuator === 'local') {
  actuator = new LocalActuator({ env: process.env, schedulerUrl: `${grpcHost}:${grpc.port}`, logger });
} else if (config.autoscaler.actuator === 'kubernetes') {
  // Loaded only when used: the Kubernetes client alone holds ~130 MiB of a scheduler's memory.
  const { KubernetesActuator } = await import('./autoscaler/kubernetes-actuator.ts');
  actuator = new KubernetesActuator({
    kubeConfig: KubernetesActuator.defaultKubeConfig(),
    namespace: config.autoscaler.k8sNamespace ?? KubernetesActuator.defaultNamespace(),
    deployments: config.autoscaler.k8sDeployments,
    logger,
  });
} else {
  actuator = new StaticActuator();
}
const autoscaler = new Autoscaler({
  config: config.autoscaler,
  leaseTtlMs: config.leaseTtlMs,
  jobs,
  batches,
  leases,
  actuator,
  clock: systemClock,
  logger,
  metrics: { desired: poolDesired, target: poolTarget, throughput: poolThroughput, errors: autoscalerErrors },
  leads: () => leader.current !== null,
});
autoscaler.start();
// A replica that stops leading stops sizing pools: its desired/target gauges go to 0 rather than
// freezing at their last values (KEDA and dashboards take the max over replicas).
leader.onChange((leading) => {
  if (!leading) for (const g of [poolDesired, poolTarget]) g.reset();
});
const ingest = startIngestWorker({
  connection: redis,
  store,
  batches,
  notifier,
  clock: systemClock,
  logger,
  maxImageBytes: config.limits.maxImageBytes,
  webhookAuth,
  indexedFiles,
  deadlines: config.scheduler.deadlines,
});
const referenceIngest = startReferenceIngestWorker({
  connection: redis,
  store,
  batches,
  notifier,
  clock: systemClock,
  logger,
  allow: urlAllowlist,
  concurrency: config.scheduler.referenceConcurrency,
  maxImageBytes: config.limits.maxImageBytes,
  maxVideoBytes: config.api.maxUploadBytes,
  webhookAuth,
  deadlines: config.scheduler.deadlines,
});
leader.start();
const loops = startLeaderLoops({
  leader,
  logger,
  tickMs: config.scheduler.tickMs,
  every: [
    { name: 'reconcile', run: () => driver.tick() },
    { name: 'outbox', run: () => reaper.reap() },
    {
      name: 'lease expiry',
      run: () => expireStaleLeases(leases, config.leaseTtlMs, leader.heldForMs(), logger, leasesExpired),
    },
  ],
  collectors: {
    intervalMs: config.limits.batchGcIntervalMs,
    run: async () => {
      while ((await sweepExpiredBatches({ batches, store, clock: systemClock, logger })) >= 100) {}
      const retention = {
        jobs,
        queues,
        clock: systemClock,
        logger,
        retentionMs: config.lifecycle.jobRetentionMs,
      };
      while ((await collectEndedJobs(retention)) >= 100) {}
    },
  },
});
const ops = await startOpsServer(
  config.api.host,
  config.scheduler.httpPort,
  metrics,
  async () => (await redis.ping()) === 'PONG',
);
logger.info(
  {
    grpcPort: grpc.port,
    httpPort: ops.port,
    autoscaler: config.autoscaler.actuator,
    replicaId: config.lifecycle.replicaId,
    tls: config.controlPlane.tlsCert !== null,
  },
  'scheduler started',
);

const shutdown = async (signal: string) => {
  logger.info({ signal }, 'scheduler shutting down');
  await loops.stop();
  await driver.idle();
  // Hand leadership over at once rather than after the lease's TTL.
  await leader.stop();
  // Before the gRPC server goes: local machines drain and release their leases through it.
  await autoscaler.stop();
  grpc.server.forceShutdown();
  ops.server.close();
  await ingest.close();
  await referenceIngest.close();
  await notifier.close();
  await queues.closeAll();
  redis.disconnect();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
