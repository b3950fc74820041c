/**
 * Batch expiry (spec §5.2): after VB_BATCH_TTL_S a batch is 404 and gone from listings, and the
 * scheduler's collector deletes its objects and every Redis key of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpiredBatches } from '../../services/scheduler/src/batch-gc.ts';
import { imageForm } from '../api/app-harness.ts';
import {
  flushRedisTestDb,
  redisTestUrl,
  s3StoreConfig,
  useS3Bucket,
  useTempDir,
  waitFor,
} from '../support/helpers.ts';
import {
  buildTar,
  jpeg,
  type StagingHarness,
  silentLogger,
  startStagingHarness,
  uploadShard,
  waitShard,
} from './staging-support.ts';

const DS = '/data-staging/v1/external/ws-a';
const TTL_S = 30;

for (const driver of ['fs', 's3'] as const) {
  describe(`batch expiry and garbage collection (${driver} store)`, () => {
    const bucket = driver === 's3' ? useS3Bucket('expiry') : '';
    let h: StagingHarness;
    beforeAll(async () => {
      await flushRedisTestDb();
      const store =
        driver === 'fs' ? { driver: 'fs' as const, dir: await useTempDir() } : s3StoreConfig(bucket);
      h = await startStagingHarness({
        redisUrl: redisTestUrl(),
        store,
        env: { VB_BATCH_TTL_S: String(TTL_S) },
      });
    });
    afterAll(() => h?.close());

    const gcDeps = () => ({ batches: h.deps.batches, store: h.store, clock: h.clock, logger: silentLogger });
    // Redis keys of staged batches (BullMQ's job hashes of the ingest queue are not batch state)
    const keysOf = async (batchId: string) =>
      (await h.redis.keys('{vb}:batch*')).filter((k) => k.includes(batchId));
    const objectsOf = async (batchId: string) => {
      const out: string[] = [];
      for await (const o of h.store.listAll('ws/ws-a/')) if (o.key.includes(`/${batchId}/`)) out.push(o.key);
      return out;
    };

    it('an expired batch is 404, unlisted, and the collector deletes its objects and keys; a live one stays', async () => {
      // old-1: simple batch; old-2: sharded batch with an unindexed tar left over; young: created later
      await h.app.inject({
        method: 'POST',
        url: `${DS}/batches/old-1/upload/image?api_key=key-a&fileName=a.jpg`,
        ...imageForm('a.jpg', jpeg()),
      });
      const shard = await uploadShard(
        h,
        DS,
        'old-2',
        await buildTar([
          { name: 'x.jpg', body: jpeg() },
          { name: 'y.jpg', body: jpeg(3) },
        ]),
      );
      expect((await waitShard(h, DS, 'old-2', shard)).shardObjectsCount).toBe(2);
      await h.stopIngest();
      await uploadShard(h, DS, 'old-2', await buildTar([{ name: 'z.jpg', body: jpeg() }])); // never indexed: its tar stays
      expect(await objectsOf('old-1')).toHaveLength(1);
      expect((await objectsOf('old-2')).length).toBe(3);

      h.clock.t += 20_000;
      await h.app.inject({
        method: 'POST',
        url: `${DS}/batches/young/upload/image?api_key=key-a&fileName=a.jpg`,
        ...imageForm('a.jpg', jpeg()),
      });
      // nothing expired yet: the sweep removes nothing
      expect(await sweepExpiredBatches(gcDeps())).toBe(0);

      h.clock.t += 11_000; // old-* are 31 s old, young 11 s
      for (const id of ['old-1', 'old-2']) {
        for (const p of ['', '/count', '/list', '/shards']) {
          const res = await h.app.inject({ method: 'GET', url: `${DS}/batches/${id}${p}?api_key=key-a` });
          expect(res.statusCode, `${id}${p}`).toBe(404);
        }
      }
      const listed = await h.app.inject({ method: 'GET', url: `${DS}/batches?api_key=key-a` });
      expect(listed.json().batches.map((b: { batchId: string }) => b.batchId)).toEqual(['young']);
      // an upload to an expired batch that is not yet collected is refused, not merged into old data
      const late = await h.app.inject({
        method: 'POST',
        url: `${DS}/batches/old-1/upload/image?api_key=key-a&fileName=b.jpg`,
        ...imageForm('b.jpg', jpeg()),
      });
      expect(late.statusCode).toBe(409);

      // the collector, as the leading scheduler runs it
      expect(await sweepExpiredBatches(gcDeps())).toBe(2);
      expect(await keysOf('old-')).toEqual([]);
      expect(await objectsOf('old-1')).toEqual([]);
      expect(await objectsOf('old-2')).toEqual([]);
      expect(await h.redis.zrange('{vb}:batch-expiry', '0', '-1')).toEqual(['ws-a/young']);
      expect(await h.redis.zrange('{vb}:batches:ws-a', '0', '-1')).toEqual(['young']);
      // the live batch is untouched
      expect(
        (await h.app.inject({ method: 'GET', url: `${DS}/batches/young/count?api_key=key-a` })).json(),
      ).toEqual({ count: 1 });
      expect(await objectsOf('young')).toHaveLength(1);

      // once collected, the id can be used again, as a fresh batch
      const again = await h.app.inject({
        method: 'POST',
        url: `${DS}/batches/old-1/upload/image?api_key=key-a&fileName=b.jpg`,
        ...imageForm('b.jpg', jpeg()),
      });
      expect(again.statusCode).toBe(200);
      const list = await h.app.inject({ method: 'GET', url: `${DS}/batches/old-1/list?api_key=key-a` });
      expect(list.json().filesMetadata.map((f: { fileName: string }) => f.fileName)).toEqual(['b.jpg']);
      const meta = (await h.app.inject({ method: 'GET', url: `${DS}/batches/old-1?api_key=key-a` })).json()
        .batch;
      expect(Date.parse(meta.expiryDate) - Date.parse(meta.createdDate)).toBe(TTL_S * 1000);
    });
  });
}
