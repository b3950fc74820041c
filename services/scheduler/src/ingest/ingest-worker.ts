import type { BatchesRepo } from '@visionbatch/shared/batches-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import { INGEST_QUEUE, QUEUE_PREFIX, type ShardIngestJob } from '@visionbatch/shared/queues';
import { type Clock, iso } from '@visionbatch/shared/time';
import { UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import type { Notifier } from '../notifier.ts';
import { BadArchiveError, indexShard } from './tar-indexer.ts';

/** Lists in a files-status webhook are cut to this many entries (`content_truncated`). */
const MAX_LISTED_FILES = 1000;

export interface IngestDeps {
  connection: Redis;
  store: ObjectStore;
  batches: BatchesRepo;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  maxImageBytes: number;
  publishableKey: (ws: string) => string;
  indexedFiles: Counter<'outcome'>;
}

/**
 * Indexes uploaded tar shards in the background (one BullMQ job per shard, so a restart loses
 * none), updates shard statuses and sends the `files-status` and `ingest-status` webhooks named
 * by a shard's `notification_config.json`.
 */
export function startIngestWorker(d: IngestDeps): Worker<ShardIngestJob> {
  const worker = new Worker<ShardIngestJob>(
    INGEST_QUEUE,
    async (job) => {
      const { workspace: ws, batchId, shardId } = job.data;
      const log = d.logger.child({ workspace: ws, batchId, shardId });
      const shard = await d.batches.getShard(ws, batchId, shardId);
      if (!shard || shard.statusName === 'shard-ingested' || shard.statusName === 'shard-ingest-failed')
        return;
      let result: Awaited<ReturnType<typeof indexShard>>;
      try {
        result = await indexShard(
          { store: d.store, batches: d.batches, clock: d.clock, maxImageBytes: d.maxImageBytes },
          ws,
          batchId,
          shardId,
        );
      } catch (err) {
        if (!(err instanceof BadArchiveError)) throw err;
        await d.batches.putShard(ws, batchId, {
          ...shard,
          statusName: 'shard-ingest-failed',
          statusType: 'error',
          eventTimestamp: iso(d.clock.now()),
          statusMetadata: { error: err.message },
        });
        await d.store.delete(objectKeys.shardTar(ws, batchId, shardId));
        log.warn({ err: err.message }, 'shard failed');
        throw new UnrecoverableError(err.message);
      }
      d.indexedFiles.inc({ outcome: 'ingested' }, result.ingested.length);
      d.indexedFiles.inc({ outcome: 'failed' }, result.failed.length);
      await d.batches.putShard(ws, batchId, {
        ...shard,
        statusName: 'shard-ingested',
        statusType: 'success',
        eventTimestamp: iso(d.clock.now()),
        shardObjectsCount: result.ingested.length,
        statusMetadata: {
          ...(result.notification?.ingestId ? { ingestId: result.notification.ingestId } : {}),
          failedFilesCount: result.failed.length,
          failedFiles: result.failed.slice(0, 100),
        },
      });
      await d.store.delete(objectKeys.shardTar(ws, batchId, shardId));
      log.info({ ingested: result.ingested.length, failed: result.failed.length }, 'shard indexed');
      const n = result.notification;
      if (n?.notificationsURL) {
        const key = d.publishableKey(ws);
        const ingestId = n.ingestId ?? shardId;
        const truncated =
          result.ingested.length > MAX_LISTED_FILES || result.failed.length > MAX_LISTED_FILES;
        await d.notifier.send(
          n.notificationsURL,
          key,
          {
            type: 'roboflow-data-staging-notification-v1',
            ingest_id: ingestId,
            batch_id: batchId,
            shard_id: shardId,
            notification: {
              type: 'ingest-files-status-notification-v1',
              success: result.failed.length === 0,
              ingested_files: result.ingested.slice(0, MAX_LISTED_FILES),
              failed_files: result.failed.slice(0, MAX_LISTED_FILES),
              content_truncated: truncated,
            },
          },
          `files-${ws}-${batchId}-${shardId}`,
        );
        // ingest-status once no other shard of this batch is still waiting to be indexed.
        const pending = (await d.batches.allShards(ws, batchId)).filter(
          (s) => s.shardId !== shardId && s.statusName === 'shard-uploaded',
        );
        if (pending.length === 0) {
          await d.notifier.send(
            n.notificationsURL,
            key,
            {
              type: 'roboflow-data-staging-notification-v1',
              ingest_id: ingestId,
              batch_id: batchId,
              shard_id: null,
              notification: { type: 'ingest-status-notification-v1', success: true },
            },
            `ingest-${ws}-${batchId}-${ingestId}-${shardId}`,
          );
        }
      }
    },
    { connection: d.connection, prefix: QUEUE_PREFIX, concurrency: 2 },
  );
  worker.on('failed', (job, err) =>
    d.logger.warn({ shardId: job?.data.shardId, err: err.message }, 'shard indexing attempt failed'),
  );
  return worker;
}
