import { BatchesRepo } from '@visionbatch/shared/batches-repo';
import { type Config, loadConfig } from '@visionbatch/shared/config';
import { JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger, type Logger } from '@visionbatch/shared/logger';
import { createMetricsRegistry } from '@visionbatch/shared/metrics';
import {
  createObjectStore,
  type ObjectStore,
  type ObjectStoreConfig,
} from '@visionbatch/shared/object-store/index';
import { createRedis } from '@visionbatch/shared/redis';
import { RegistryRepo } from '@visionbatch/shared/registry-repo';
import type { Clock } from '@visionbatch/shared/time';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApp } from '../../services/api/src/app.ts';
import type { ApiDeps } from '../../services/api/src/deps.ts';
import { JobEventHub } from '../../services/api/src/events/event-hub.ts';
import { validateWorkflowDefinition } from '../../services/api/src/workflow-validation.ts';

/** A settable clock, so expiry can be tested without waiting. */
export class TestClock implements Clock {
  constructor(public t = Date.now()) {}
  now(): number {
    return this.t;
  }
}

export interface AppHarness {
  app: FastifyInstance;
  deps: ApiDeps;
  store: ObjectStore;
  redis: Redis;
  clock: TestClock;
  config: Config;
  shardsEnqueued: Array<{ workspace: string; batchId: string; shardId: string }>;
  close(): Promise<void>;
}

/**
 * The api built in-process over real Redis and a real object store (no scheduler: job control
 * calls are recorded). For route-level tests; the end-to-end tests run the real processes.
 */
export async function startApiHarness(opts: {
  redisUrl: string;
  store: ObjectStoreConfig;
  env?: Record<string, string>;
  /** the api's logger (default: silent) */
  logger?: Logger;
}): Promise<AppHarness> {
  const config = loadConfig({
    VB_API_KEYS: 'key-a:ws-a,key-b:ws-b',
    VB_PUBLIC_URL: 'http://vb.test',
    VB_URL_SIGNING_SECRET: 'test-secret',
    VB_LOG_LEVEL: 'silent',
    ...opts.env,
  });
  const redis = createRedis(opts.redisUrl);
  const eventsRedis = createRedis(opts.redisUrl);
  const logger = opts.logger ?? createLogger('api-test', 'silent');
  const events = new JobEventHub(eventsRedis, logger);
  const store = await createObjectStore(opts.store);
  const clock = new TestClock();
  const shardsEnqueued: AppHarness['shardsEnqueued'] = [];
  const deps: ApiDeps = {
    config,
    redis,
    store,
    batches: new BatchesRepo(redis, clock, config.limits.batchTtlMs),
    jobs: new JobsRepo(redis, clock),
    registry: new RegistryRepo(redis),
    scheduler: {
      SubmitJob: async () => ({ ok: true, message: '' }),
    },
    clock,
    logger,
    metrics: createMetricsRegistry('api-test'),
    urlSecret: 'test-secret',
    events,
    enqueueShard: async (workspace, batchId, shardId) => {
      shardsEnqueued.push({ workspace, batchId, shardId });
    },
  };
  const app = await buildApp(deps, validateWorkflowDefinition);
  await app.ready();
  return {
    app,
    deps,
    store,
    redis,
    clock,
    config,
    shardsEnqueued,
    close: async () => {
      await app.close();
      await events.close();
      eventsRedis.disconnect();
      redis.disconnect();
    },
  };
}

/** A multipart body with one file part named after the file, as Roboflow's client sends it. */
export function imageForm(
  fileName: string,
  bytes: Buffer,
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----vb${Math.random().toString(16).slice(2)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${fileName}"; filename="${fileName}"\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    payload: Buffer.concat([head, bytes, tail]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}
