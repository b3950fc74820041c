import { KEY_PREFIX } from './redis-keys.ts';

/** BullMQ prefix: the same `{vb}` hash tag as every other key (Redis Cluster, CROSSSLOT). */
export const QUEUE_PREFIX = KEY_PREFIX;

/**
 * One BullMQ queue per job and epoch (BullMQ forbids ':' in queue names): a restarted job gets a
 * fresh queue, so attempts of the old epoch never collide with the new one's, and the cleanup of the
 * old queue can never touch the new one.
 */
export const jobQueueName = (ws: string, jobId: string, epoch: number) => `job.${ws}.${jobId}.e${epoch}`;

/** The Redis key of BullMQ's lock on a queue job (what its own moves check the token against). */
export const taskLockKey = (queueName: string, bullJobId: string) =>
  `${QUEUE_PREFIX}:${queueName}:${bullJobId}:lock`;

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

/** Queue of reference ingests (spec §2.11/§2.12) waiting to be downloaded by the scheduler. */
export const REFERENCE_INGEST_QUEUE = 'reference-ingest';

/** A file reference: the name to store it under and the URL to download it from. */
export interface FileReference {
  name: string;
  url: string;
}

/** Payload of a reference ingest job; shards (images) are derived deterministically from `digest`. */
export interface ReferenceIngestJob {
  workspace: string;
  batchId: string;
  ingestId: string;
  /** sha256 of batch + kind + reference list (or references URL): the dedup key, shard ids derive from it. */
  digest: string;
  kind: 'images' | 'videos';
  references?: FileReference[];
  referencesURL?: string;
  notificationsURL?: string;
  categories: Array<'ingest-status' | 'files-status'>;
}

/** Files per shard of a reference ingest (spec §2.11: ≤ 256, matching the processing shard size). */
export const REFERENCE_SHARD_SIZE = 256;

/** Deterministic shard id of the `i`-th shard of an ingest, so retried requests register no new shards. */
export const referenceShardId = (digest: string, i: number) => `ref-${digest.slice(0, 24)}-${i}`;
