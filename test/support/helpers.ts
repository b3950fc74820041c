/**
 * Helpers for test files: polling, ports and temp folders (re-exported from `basics.ts`), and isolation
 * on the shared Redis and S3 servers that `global-setup.ts` started (these use `inject()`, so they only
 * work inside a test file).
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { Client } from 'minio';
import { afterAll, beforeEach, inject } from 'vitest';
import type { ObjectStoreConfig } from '../../packages/shared/src/object-store/index.ts';
import { tempDir } from './basics.ts';
import { TEST_REDIS_DATABASES, type TestRedisInfo, type TestS3Info } from './context.ts';

export { freePort, tempDir, type WaitForOptions, waitFor } from './basics.ts';

// Folders and buckets made for the current test file, removed after it. The hook is registered when
// this module is evaluated, i.e. while the importing file is collected (vitest evaluates modules once per
// test file), so `useTempDir()` / `useS3Bucket()` work anywhere: at the top level, in `describe`, in
// `beforeAll` or in a test (a hook registered from inside another hook would be ignored by vitest).
const tempDirsOfThisFile = new Set<string>();
const bucketsOfThisFile = new Set<string>();
afterAll(async () => {
  const dirs = [...tempDirsOfThisFile];
  const buckets = [...bucketsOfThisFile];
  tempDirsOfThisFile.clear();
  bucketsOfThisFile.clear();
  await Promise.all([
    ...dirs.map((dir) => rm(dir, { recursive: true, force: true })),
    ...buckets.map((bucket) => removeBucket(bucket)),
  ]);
});

/** A new temp folder, removed after the current test file. */
export async function useTempDir(prefix = 'vb-test-'): Promise<string> {
  const dir = await tempDir(prefix);
  tempDirsOfThisFile.add(dir);
  return dir;
}

/** A short random suffix for names that must not collide between test files or runs. */
export function uniqueSuffix(): string {
  return `${process.pid.toString(36)}${randomBytes(4).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------------
// Redis. Every worker process gets its own logical database (VITEST_POOL_ID is unique among the workers
// running at one time), so files running in parallel never see each other's keys. Within a worker, files
// run one after another: flush between them or per test with `useRedisTestDb()`. Never FLUSHALL.

/** Connection info of the test Redis. */
export function redisTestInfo(): TestRedisInfo {
  return inject('vbRedis');
}

/** This worker's Redis database number (1..31; 0 is left for ad-hoc use outside tests). */
export function redisTestDb(): number {
  const poolId = Number(process.env.VITEST_POOL_ID ?? '1');
  return 1 + ((Number.isInteger(poolId) && poolId > 0 ? poolId - 1 : 0) % (TEST_REDIS_DATABASES - 1));
}

/** `redis://127.0.0.1:<port>/<db>` for this worker's database. */
export function redisTestUrl(): string {
  return `${redisTestInfo().url}/${redisTestDb()}`;
}

/** A key prefix no other test uses, e.g. for BullMQ's `prefix` option, when flushing is too coarse. */
export function freshRedisPrefix(label = 't'): string {
  return `vbtest:${label}:${uniqueSuffix()}`;
}

/** Empties this worker's database. */
export async function flushRedisTestDb(): Promise<void> {
  const redis = new Redis(redisTestUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}

/**
 * Flushes this worker's database before every test of the calling file and returns its URL.
 * Call at the top level of a test file (or of a `describe`).
 */
export function useRedisTestDb(): string {
  beforeEach(flushRedisTestDb);
  return redisTestUrl();
}

// ---------------------------------------------------------------------------------------------------
// S3. Isolation is a fresh bucket per test file (or per test, when cheap enough).

/** Connection info of the test S3 server. */
export function s3TestInfo(): TestS3Info {
  return inject('vbS3');
}

/** A valid bucket name no other file or run uses: lowercase, 3-63 characters. */
export function freshBucketName(label = 'test'): string {
  const clean =
    label
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 30)
      .replace(/^-+|-+$/g, '') || 'test';
  return `vbt-${clean}-${uniqueSuffix()}`;
}

/** Every field set, so it fits both `ObjectStoreConfig` and the app's `StoreConfig`. */
export type S3TestStoreConfig = Extract<ObjectStoreConfig, { driver: 's3' }> & {
  endPoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
};

/** Store config for `createObjectStore` pointing at the test S3 server. */
export function s3StoreConfig(bucket: string): S3TestStoreConfig {
  const s3 = s3TestInfo();
  return {
    driver: 's3',
    endPoint: s3.endPoint,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    region: s3.region,
    bucket,
  };
}

/** A raw minio client for the test server, for setup and assertions that go around the ObjectStore. */
export function s3TestClient(): Client {
  const s3 = s3TestInfo();
  const url = new URL(s3.endPoint);
  return new Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: url.protocol === 'https:',
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    region: s3.region,
    pathStyle: true,
  });
}

/** Empties and removes a bucket; a missing bucket is fine. */
export async function removeBucket(bucket: string): Promise<void> {
  const client = s3TestClient();
  if (!(await client.bucketExists(bucket))) return;
  const keys: string[] = [];
  for await (const item of client.listObjects(bucket, '', true)) {
    if (item.name) keys.push(item.name);
  }
  if (keys.length > 0) await client.removeObjects(bucket, keys);
  await client.removeBucket(bucket);
}

/**
 * A fresh bucket name for the calling test file, emptied and removed after the file. The bucket itself
 * is created by whoever opens a store on it (`createObjectStore` does).
 */
export function useS3Bucket(label = 'test'): string {
  const bucket = freshBucketName(label);
  bucketsOfThisFile.add(bucket);
  return bucket;
}
