import { loadConfig } from '@visionbatch/shared/config';
import { controlPlaneCredentials, createSchedulerClient } from '@visionbatch/shared/grpc';
import { JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { createMetricsRegistry, fencedWritesCounter } from '@visionbatch/shared/metrics';
import { startOpsServer } from '@visionbatch/shared/ops-server';
import { createRedis } from '@visionbatch/shared/redis';
import { systemClock } from '@visionbatch/shared/time';
import { Machine } from './machine.ts';
import { workerMetrics } from './metrics.ts';

// The worker's composition root: one process is one machine of a pool.
const config = loadConfig();
const logger = createLogger('worker', config.logLevel).child({
  machineId: config.worker.id,
  pool: config.worker.pool,
});
const redis = createRedis(config.redis);
const registry = createMetricsRegistry('worker');
const scheduler = createSchedulerClient(config.scheduler.url, controlPlaneCredentials(config), 10_000);
const fencedWrites = fencedWritesCounter(registry);
const machine = new Machine({
  config,
  scheduler,
  connection: redis,
  jobs: new JobsRepo(redis, systemClock, { maxLogLines: config.lifecycle.maxLogLines }, (kind, reason) =>
    fencedWrites.inc({ kind, reason }),
  ),
  logger,
  metrics: workerMetrics(registry),
});
const ops = await startOpsServer(
  config.api.host,
  config.worker.httpPort,
  registry,
  async () => (await redis.ping()) === 'PONG',
);
logger.info({ httpPort: ops.port }, 'worker started');
const running = machine.run();

let draining = false;
const shutdown = async (signal: string) => {
  if (draining) return;
  draining = true;
  logger.info({ signal }, 'worker draining');
  await machine.stop();
  await running;
  ops.server.close();
  scheduler.close();
  redis.disconnect();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
// Started by the scheduler's local autoscaler (an IPC channel): drain and exit when the scheduler is gone.
if (process.send) process.once('disconnect', () => void shutdown('scheduler exited'));
