/**
 * Poison shards over real processes (api, scheduler, worker): tars uploaded through the real signed
 * upload URL flow whose entry declares 200 MB but carries 4 KB, or a cut-short `../x.jpg` entry, fail
 * as shards with a reason code while the scheduler keeps running (same pid, /healthz ok), is never
 * retried into a crash loop, and goes on to ingest a good shard of the same batch (whose one badly
 * named file is that file's failure only) and to run a job over the batch to success.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateImageDataset } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createJob,
  ds,
  imageJobBody,
  registerModelAndWorkflow,
  startStack,
  waitTerminal,
} from '../e2e/e2e-support.ts';
import type { Stack } from '../e2e/stack.ts';
import { buildTar, jpeg, poisonTar } from '../staging/staging-support.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';

const BATCH = 'poison';

describe('poison shards do not take the scheduler down', () => {
  let stack: Stack;
  let dir: string;

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-e2e-poison-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'));
    await registerModelAndWorkflow(stack, dir);
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const scheduler = () => {
    const child = stack.procs.get('scheduler');
    if (!child) throw new Error('no scheduler process');
    return child;
  };

  /** The client's bulk path: an upload URL per shard, then a PUT of the tar with its extension headers. */
  async function putShard(tarBytes: Buffer): Promise<string> {
    const reg = await stack.call(
      'POST',
      `${ds(stack)}/batches/${BATCH}/bulk-upload/image-files?displayName=poison`,
    );
    expect(reg.status, JSON.stringify(reg.json)).toBe(200);
    const { uploadURL, extensionHeaders } = reg.json.signedURLDetails;
    const put = await fetch(uploadURL, { method: 'PUT', body: tarBytes, headers: extensionHeaders });
    expect(put.status, await put.text()).toBe(200);
    const shards = (await stack.call('GET', `${ds(stack)}/batches/${BATCH}/shards?pageSize=1000`)).json
      .shards;
    const uploaded = (shards as Array<{ shardId: string; statusName: string }>).filter(
      (s) => s.statusName !== 'shard-registered',
    );
    return uploaded.at(-1)!.shardId;
  }

  /** Waits for a shard to leave `shard-uploaded`; fails at once if the scheduler process exits. */
  async function settled(shardId: string): Promise<Record<string, any>> {
    let shard: Record<string, any> | undefined;
    await waitFor(
      async () => {
        if (scheduler().exitCode !== null)
          throw new Error(`the scheduler exited (${scheduler().exitCode}): ${stack.tail('scheduler')}`);
        const r = await stack.call('GET', `${ds(stack)}/batches/${BATCH}/shards?pageSize=1000`);
        shard = (r.json.shards as Array<Record<string, any>>).find((s) => s.shardId === shardId);
        return shard?.statusName === 'shard-ingested' || shard?.statusName === 'shard-ingest-failed';
      },
      { timeoutMs: 60_000, intervalMs: 100, message: `shard ${shardId} settled` },
    );
    return shard!;
  }

  it('fails the poison shards with a reason, stays up, ingests the good shard and runs a job on the batch', async () => {
    const pid = scheduler().pid;
    const declaredBig = await settled(await putShard(await poisonTar('big.jpg', 200_000_000, 4096)));
    const cutShortEscape = await settled(await putShard(await poisonTar('../x.jpg', 200_000_000, 4096)));
    for (const s of [declaredBig, cutShortEscape]) {
      expect(s).toMatchObject({
        statusName: 'shard-ingest-failed',
        statusType: 'error',
        shardObjectsCount: 0,
      });
      expect(s.statusMetadata).toMatchObject({
        errorType: 'invalid-archive',
        error: expect.stringMatching(/end of data/i),
      });
    }

    const images = await generateImageDataset({
      dir: path.join(dir, 'images'),
      count: 6,
      seed: 5,
      pngEvery: 0,
    });
    const good = await buildTar([
      ...(await Promise.all(
        images.files.map(async (name) => ({ name, body: await readFile(path.join(images.dir, name)) })),
      )),
      // a name the object store refuses (reserved prefix) is that file's failure, not the shard's
      { name: '.vb-meta.x.jpg', body: jpeg() },
    ]);
    const goodShard = await settled(await putShard(good));
    expect(goodShard).toMatchObject({ statusName: 'shard-ingested', shardObjectsCount: images.files.length });
    expect(goodShard.statusMetadata.failedFiles).toEqual([
      { type: 'invalid-file-name', file_name: '.vb-meta.x.jpg', reason: expect.stringContaining('.vb-') },
    ]);

    await createJob(stack, 'poison-job', imageJobBody(stack, BATCH));
    const job = await waitTerminal(stack, 'poison-job');
    expect(job.error).toBe(false);

    // The same scheduler process did all of it: never crashed, never restarted.
    expect(scheduler().pid).toBe(pid);
    expect(scheduler().exitCode).toBeNull();
    const health = await fetch(`http://127.0.0.1:${stack.env.VB_SCHEDULER_HTTP_PORT}/healthz`);
    expect(health.status).toBe(200);
    // Failed shards are not retried: each poison shard was read once.
    const log = await readFile(path.join(stack.env.VB_DATA_DIR, 'logs', 'scheduler.log'), 'utf8');
    expect(log.match(/"msg":"shard failed"/g)).toHaveLength(2);
    expect(log).not.toMatch(/shard indexing attempt failed/);
  }, 180_000);
});
