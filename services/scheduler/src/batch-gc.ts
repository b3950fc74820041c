import type { BatchesRepo } from '@visionbatch/shared/batches-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import type { Clock } from '@visionbatch/shared/time';

export interface BatchGcDeps {
  batches: BatchesRepo;
  store: ObjectStore;
  clock: Clock;
  logger: Logger;
}

/** Prefix of the uploaded (not yet indexed) tar shards of a batch. */
const shardTarsPrefix = (ws: string, batchId: string) =>
  objectKeys.shardTar(ws, batchId, 'x').replace(/x\.tar$/, '');

/**
 * Removes expired batches (spec §5.2: 7 days by default): their objects first (files of every part
 * and leftover shard tars), then every Redis key. Driven by the `{vb}:batch-expiry` zset, so a sweep
 * costs nothing when nothing expired, and a crash between the two steps is retried by the next sweep.
 * The api already answers 404 for an expired batch before it is swept (BatchesRepo.get).
 * Returns how many batches were removed.
 */
export async function sweepExpiredBatches(d: BatchGcDeps, maxPerSweep = 100): Promise<number> {
  let removed = 0;
  for (const { ws, batchId } of await d.batches.expired(d.clock.now(), maxPerSweep)) {
    try {
      const objects = await d.store.deletePrefix(objectKeys.batchPrefix(ws, batchId));
      const tars = await d.store.deletePrefix(shardTarsPrefix(ws, batchId));
      await d.batches.purge(ws, batchId);
      removed++;
      d.logger.info({ workspace: ws, batchId, objects: objects + tars }, 'expired batch removed');
    } catch (err) {
      d.logger.warn(
        { workspace: ws, batchId, err: (err as Error).message },
        'expired batch removal failed; retried next sweep',
      );
    }
  }
  return removed;
}
