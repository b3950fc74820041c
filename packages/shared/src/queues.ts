import { KEY_PREFIX } from './redis-keys.ts';

/** BullMQ prefix: the same `{vb}` hash tag as every other key (Redis Cluster, CROSSSLOT). */
export const QUEUE_PREFIX = KEY_PREFIX;

/** One BullMQ queue per job (BullMQ forbids ':' in queue names). */
export const jobQueueName = (ws: string, jobId: string) => `job.${ws}.${jobId}`;

/** BullMQ job id of a task: deterministic, so re-adding a planned task is a no-op. */
export const taskJobId = (stage: string, taskId: string) => `${stage}-${taskId}`;

/** Queue of uploaded tar shards waiting to be indexed by the scheduler. */
export const INGEST_QUEUE = 'ingest';

/** Payload of an ingest job. */
export interface ShardIngestJob {
  workspace: string;
  batchId: string;
  shardId: string;
}
