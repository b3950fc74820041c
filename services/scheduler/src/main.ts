import { BatchesRepo } from '@visionbatch/shared/batches-repo';
import { loadConfig, publishableKeyOf } from '@visionbatch/shared/config';
import { startSchedulerServer } from '@visionbatch/shared/grpc';
import { JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { createMetricsRegistry } from '@visionbatch/shared/metrics';
import { createObjectStore } from '@visionbatch/shared/object-store/index';
import { startOpsServer } from '@visionbatch/shared/ops-server';
import { createRedis } from '@visionbatch/shared/redis';
import { RegistryRepo } from '@visionbatch/shared/registry-repo';
import { systemClock } from '@visionbatch/shared/time';
import { Counter, Gauge } from 'prom-client';
import { type Actuator, StaticActuator } from './autoscaler/actuator.ts';
import { Autoscaler } from './autoscaler/autoscaler.ts';
import { KubernetesActuator } from './autoscaler/kubernetes-actuator.ts';
import { LocalActuator } from './autoscaler/local-actuator.ts';
import { startBatchGc } from './batch-gc.ts';
import { controlPlane } from './control-plane.ts';
import { startIngestWorker } from './ingest/ingest-worker.ts';
import { JobDriver } from './job-driver.ts';
import { JobQueues } from './job-queues.ts';
import { LeaseStore } from './leases.ts';
import { Notifier } from './notifier.ts';
import { startReferenceIngestWorker } from './reference-ingest.ts';
import { UrlAllowlist } from './ssrf-guard.ts';

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

const store = await createObjectStore(config.store);
const jobs = new JobsRepo(redis, systemClock);
const registry = new RegistryRepo(redis);
const leases = new LeaseStore(redis, systemClock);
const queues = new JobQueues(redis);
const urlAllowlist = new UrlAllowlist(config.scheduler.urlAllowlist);
const notifier = new Notifier(redis, logger, webhookDeliveries, urlAllowlist);
const batches = new BatchesRepo(redis, systemClock, config.limits.batchTtlMs);
const publishableKey = (ws: string) => publishableKeyOf(config, ws);
const driver = new JobDriver({
  config,
  jobs,
  batches,
  queues,
  leases,
  notifier,
  clock: systemClock,
  logger,
  registry,
  store,
  onTerminal: (state) => jobsEnded.inc({ state }),
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
  controlPlane({ jobs, registry, leases, queues, driver, logger, meteredSeconds }),
  config.scheduler.grpcHost,
  config.scheduler.grpcPort,
);
notifier.start();
const grpcHost = ['0.0.0.0', '::', ''].includes(config.scheduler.grpcHost)
  ? '127.0.0.1'
  : config.scheduler.grpcHost;
let actuator: Actuator;
if (config.autoscaler.actuator === 'local') {
  actuator = new LocalActuator({ env: process.env, schedulerUrl: `${grpcHost}:${grpc.port}`, logger });
} else if (config.autoscaler.actuator === 'kubernetes') {
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
});
autoscaler.start();
const ingest = startIngestWorker({
  connection: redis,
  store,
  batches,
  notifier,
  clock: systemClock,
  logger,
  maxImageBytes: config.limits.maxImageBytes,
  publishableKey,
  indexedFiles,
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
  publishableKey,
});
const batchGc = startBatchGc({ batches, store, clock: systemClock, logger }, config.limits.batchGcIntervalMs);
const ops = await startOpsServer(
  config.api.host,
  config.scheduler.httpPort,
  metrics,
  async () => (await redis.ping()) === 'PONG',
);
logger.info(
  { grpcPort: grpc.port, httpPort: ops.port, autoscaler: config.autoscaler.actuator },
  'scheduler started',
);

let stopping = false;
const loop = async () => {
  while (!stopping) {
    const started = Date.now();
    try {
      await driver.tick();
    } catch (err) {
      logger.error({ err }, 'tick failed');
    }
    await new Promise((r) => setTimeout(r, Math.max(0, config.scheduler.tickMs - (Date.now() - started))));
  }
};
const running = loop();

const shutdown = async (signal: string) => {
  logger.info({ signal }, 'scheduler shutting down');
  stopping = true;
  await running;
  // Before the gRPC server goes: local machines drain and release their leases through it.
  await autoscaler.stop();
  grpc.server.forceShutdown();
  ops.server.close();
  await ingest.close();
  await referenceIngest.close();
  await batchGc.stop();
  await notifier.close();
  await queues.closeAll();
  redis.disconnect();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
