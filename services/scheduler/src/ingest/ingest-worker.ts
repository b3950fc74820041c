import type { BatchesRepo, ShardRecord } from '@visionbatch/shared/batches-repo';
import type { IngestDeadlines } from '@visionbatch/shared/config';
import { withDeadline } from '@visionbatch/shared/deadline';
import type { Logger } from '@visionbatch/shared/logger';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import { INGEST_QUEUE, QUEUE_PREFIX, type ShardIngestJob } from '@visionbatch/shared/queues';
import { type Clock, iso } from '@visionbatch/shared/time';
import type { WebhookAuth } from '@visionbatch/shared/webhook-auth';
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import type { Notifier } from '../notifier.ts';
import { filesStatusNotification } from './files-status.ts';
import { indexShard, type ShardIndexResult } from './tar-indexer.ts';

export interface IngestDeps {
  connection: Redis;
  store: ObjectStore;
  batches: BatchesRepo;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  maxImageBytes: number;
  webhookAuth: WebhookAuth;
  indexedFiles: Counter<'outcome'>;
  deadlines: Pick<IngestDeadlines, 'storeCallMs' | 'shardIndexMs'>;
}

/** Whether this is the job's last attempt (BullMQ counts attempts made before this one). */
const lastAttempt = (job: Job) => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

/**
 * Indexes uploaded tar shards in the background (one BullMQ job per shard, so a restart loses
 * none), updates shard statuses and sends the `files-status` and `ingest-status` webhooks named
 * by a shard's `notification_config.json`. A bad shard is that shard's failure: a malformed
 * archive fails it at once with a reason code (never retried, never an error that reaches the
 * process); an error another attempt may cure (store, Redis) is retried, and fails the shard with
 * `ingest-error` on the last attempt instead of leaving it `shard-uploaded` forever.
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
      let result: ShardIndexResult;
      try {
        result = await indexShard(
          {
            store: d.store,
            batches: d.batches,
            maxImageBytes: d.maxImageBytes,
            ...d.deadlines,
          },
          ws,
          batchId,
          shardId,
        );
      } catch (err) {
        if (!lastAttempt(job)) throw err;
        const reason = `the shard could not be indexed after ${job.attemptsMade + 1} attempts: ${(err as Error).message}`;
        result = { outcome: 'failed', error: { type: 'ingest-error', reason }, notification: null };
      }
      const done: ShardRecord =
        result.outcome === 'ingested'
          ? {
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
            }
          : {
              ...shard,
              statusName: 'shard-ingest-failed',
              statusType: 'error',
              eventTimestamp: iso(d.clock.now()),
              shardObjectsCount: 0,
              statusMetadata: {
                ...(result.notification?.ingestId ? { ingestId: result.notification.ingestId } : {}),
                errorType: result.error.type,
                error: result.error.reason,
              },
            };
      await d.batches.putShard(ws, batchId, done);
      await withDeadline('deleting the shard tar', d.deadlines.storeCallMs, () =>
        d.store.delete(objectKeys.shardTar(ws, batchId, shardId)),
      ).catch((err) => log.warn({ err: (err as Error).message }, 'could not delete the shard tar'));
      if (result.outcome === 'ingested') {
        d.indexedFiles.inc({ outcome: 'ingested' }, result.ingested.length);
        d.indexedFiles.inc({ outcome: 'failed' }, result.failed.length);
        log.info({ ingested: result.ingested.length, failed: result.failed.length }, 'shard indexed');
      } else {
        log.warn({ errorType: result.error.type, reason: result.error.reason }, 'shard failed');
      }
      await notify(ws, batchId, shardId, result);
    },
    { connection: d.connection, prefix: QUEUE_PREFIX, concurrency: 2 },
  );

  async function notify(ws: string, batchId: string, shardId: string, result: ShardIndexResult) {
    const n = result.notification;
    if (!n?.notificationsURL) return;
    const key = await d.webhookAuth.authorizationFor(ws);
    const ingestId = n.ingestId ?? shardId;
    await d.notifier.send(
      n.notificationsURL,
      key,
      {
        type: 'roboflow-data-staging-notification-v1',
        ingest_id: ingestId,
        batch_id: batchId,
        shard_id: shardId,
        notification: filesStatusNotification(
          result.outcome === 'ingested'
            ? { processed: true, ingested: result.ingested, failed: result.failed }
            : { processed: false, error: result.error },
        ),
      },
      `files-${ws}-${batchId}-${shardId}`,
    );
    // ingest-status once no other shard of this batch is still waiting to be indexed. The ingest
    // failed when none of its shards could be processed (as a reference ingest that ingested nothing).
    const shards = await d.batches.allShards(ws, batchId);
    if (shards.some((s) => s.shardId !== shardId && s.statusName === 'shard-uploaded')) return;
    const ofIngest = shards.filter((s) => (s.statusMetadata?.ingestId ?? s.shardId) === ingestId);
    const failedShard = ofIngest.find((s) => s.statusName === 'shard-ingest-failed');
    const success = !failedShard || ofIngest.some((s) => s.statusName === 'shard-ingested');
    await d.notifier.send(
      n.notificationsURL,
      key,
      {
        type: 'roboflow-data-staging-notification-v1',
        ingest_id: ingestId,
        batch_id: batchId,
        shard_id: null,
        notification: {
          type: 'ingest-status-notification-v1',
          success,
          ...(success
            ? {}
            : {
                error_details: {
                  type: String(failedShard?.statusMetadata?.errorType),
                  reason: `shard ${failedShard?.shardId}: ${failedShard?.statusMetadata?.error}`,
                },
              }),
        },
      },
      `ingest-${ws}-${batchId}-${ingestId}-${shardId}`,
    );
  }

  worker.on('failed', (job, err) =>
    d.logger.warn({ shardId: job?.data.shardId, err: err.message }, 'shard indexing attempt failed'),
  );
  worker.on('error', (err) => d.logger.error({ err }, 'shard ingest worker error'));
  return worker;
}
