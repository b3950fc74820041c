import type { BatchesRepo } from '@visionbatch/shared/batches-repo';
import type { Config } from '@visionbatch/shared/config';
import type { SchedulerClient } from '@visionbatch/shared/grpc';
import type { JobsRepo } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import type { RegistryRepo } from '@visionbatch/shared/registry-repo';
import type { Clock } from '@visionbatch/shared/time';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { JobEventHub } from './events/event-hub.ts';

/** Everything the api's routes need, built once by main.ts. */
export interface ApiDeps {
  config: Config;
  redis: Redis;
  store: ObjectStore;
  batches: BatchesRepo;
  jobs: JobsRepo;
  registry: RegistryRepo;
  /** nudges the scheduler about a new or restarted job (best effort: it also finds them on its own) */
  scheduler: Pick<SchedulerClient, 'SubmitJob'>;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  /** HMAC secret for signed URLs */
  urlSecret: string;
  /** follows job event streams for every live event stream of this process, over one connection */
  events: JobEventHub;
  /** Hands an uploaded tar shard to the scheduler's indexer (durable queue). */
  enqueueShard: (workspace: string, batchId: string, shardId: string) => Promise<void>;
}
