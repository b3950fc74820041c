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
const redis = createRedis(config.redisUrl);
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

const grpc = await startSchedulerServer(
  controlPlane({ jobs, registry, leases, queues, driver, logger, meteredSeconds }),
  config.scheduler.grpcHost,
  config.scheduler.grpcPort,
);
notifier.start();
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
logger.info({ grpcPort: grpc.port, httpPort: ops.port }, 'scheduler started');

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
