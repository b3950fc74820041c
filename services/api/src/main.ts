import { BatchesRepo } from '@visionbatch/shared/batches-repo';
import { loadConfig } from '@visionbatch/shared/config';
import { dataDirSecret } from '@visionbatch/shared/data-dir-secret';
import { controlPlaneCredentials, createSchedulerClient } from '@visionbatch/shared/grpc';
import { JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { createMetricsRegistry, fencedWritesCounter } from '@visionbatch/shared/metrics';
import { createObjectStore } from '@visionbatch/shared/object-store/index';
import { startOpsServer } from '@visionbatch/shared/ops-server';
import { INGEST_QUEUE, QUEUE_PREFIX, type ShardIngestJob } from '@visionbatch/shared/queues';
import { createRedis, failFastOptions } from '@visionbatch/shared/redis';
import { RegistryRepo } from '@visionbatch/shared/registry-repo';
import { systemClock } from '@visionbatch/shared/time';
import { Queue } from 'bullmq';
import { buildApp } from './app.ts';
import { JobEventHub } from './events/event-hub.ts';
import { validateWorkflowDefinition } from './workflow-validation.ts';

// The api's composition root: config → dependencies → HTTP server.

/** Longest a request waits on one Redis command before it answers 503. */
const REDIS_COMMAND_TIMEOUT_MS = 1500;
const config = loadConfig();
const logger = createLogger('api', config.logLevel);
// Fail fast while Redis is down: requests get a 503 within REDIS_COMMAND_TIMEOUT_MS, never hang.
const redis = createRedis(config.redis, failFastOptions(REDIS_COMMAND_TIMEOUT_MS));
redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
const store = await createObjectStore(config.store);
const scheduler = createSchedulerClient(config.scheduler.url, controlPlaneCredentials(config), 5000);
const ingestQueue = new Queue<ShardIngestJob>(INGEST_QUEUE, { connection: redis, prefix: QUEUE_PREFIX });
const enqueueShard = async (workspace: string, batchId: string, shardId: string) => {
  // jobId makes a retried PUT a no-op instead of a second indexing run.
  await ingestQueue.add(
    'shard',
    { workspace, batchId, shardId },
    {
      jobId: `shard-${workspace}-${batchId}-${shardId}`,
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: 10_000,
      removeOnFail: 10_000,
    },
  );
};
// Every live job event stream of this process is followed over this one connection; it blocks in
// XREAD, so it is not the fail-fast connection above.
const eventsRedis = createRedis(config.redis);
eventsRedis.on('error', (err) => logger.warn({ err: err.message }, 'redis (job events) connection error'));
const events = new JobEventHub(eventsRedis, logger);
const metrics = createMetricsRegistry('api');
const fencedWrites = fencedWritesCounter(metrics);
const deps = {
  config,
  redis,
  store,
  batches: new BatchesRepo(redis, systemClock, config.limits.batchTtlMs),
  jobs: new JobsRepo(redis, systemClock, { maxLogLines: config.lifecycle.maxLogLines }, (kind, reason) =>
    fencedWrites.inc({ kind, reason }),
  ),
  registry: new RegistryRepo(redis),
  scheduler,
  clock: systemClock,
  logger,
  metrics,
  urlSecret: dataDirSecret(config.api.urlSigningSecret, config.dataDir, 'url-signing.secret'),
  events,
  enqueueShard,
};
const app = await buildApp(deps, validateWorkflowDefinition);
await app.listen({ host: config.api.host, port: config.api.port });
// /metrics on a port of its own, which an Ingress in front of the api port never exposes.
const ops = await startOpsServer(
  config.api.host,
  config.api.opsPort,
  deps.metrics,
  async () => (await redis.ping()) === 'PONG',
);
logger.info({ url: config.api.publicUrl, opsPort: ops.port }, 'api listening');

const shutdown = async (signal: string) => {
  logger.info({ signal }, 'api shutting down');
  await app.close();
  await events.close();
  eventsRedis.disconnect();
  ops.server.close();
  await ingestQueue.close();
  scheduler.close();
  redis.disconnect();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
