/** Checks what global-setup.ts provides: both servers answer, env and inject() agree, isolation works. */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  flushRedisTestDb,
  freePort,
  freshBucketName,
  redisTestDb,
  redisTestInfo,
  redisTestUrl,
  s3TestClient,
  s3TestInfo,
  waitFor,
} from './helpers.ts';

describe('test infrastructure', () => {
  it('exposes the servers through inject() and VB_TEST_* env vars alike', () => {
    const redis = redisTestInfo();
    const s3 = s3TestInfo();
    expect(process.env.VB_TEST_REDIS_URL).toBe(redis.url);
    expect(process.env.VB_TEST_S3_ENDPOINT).toBe(s3.endPoint);
    expect(process.env.VB_TEST_S3_ACCESS_KEY).toBe(s3.accessKey);
    expect(process.env.VB_TEST_S3_SECRET_KEY).toBe(s3.secretKey);
    expect(process.env.VB_TEST_S3_FLAVOUR).toBe(s3.flavour);
    expect(['s3rver', 'minio']).toContain(s3.flavour);
  });

  it('runs Redis with AOF and noeviction, and gives this worker its own database', async () => {
    const redis = new Redis(redisTestUrl(), { maxRetriesPerRequest: 1 });
    try {
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await redis.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(redisTestDb()).toBeGreaterThanOrEqual(1);
      await redis.set('infra:probe', '1');
      expect(await redis.dbsize()).toBeGreaterThan(0);
      await flushRedisTestDb();
      expect(await redis.dbsize()).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('requires a password, as production Redis does', async () => {
    const { host, port, password, url } = redisTestInfo();
    expect(password.length).toBeGreaterThanOrEqual(32);
    expect(new URL(url).password).toBe(password);
    const anonymous = new Redis({ host, port, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anonymous.on('error', () => {});
    try {
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    } finally {
      anonymous.disconnect();
    }
  });

  it('answers S3 requests with the provided credentials', async () => {
    const client = s3TestClient();
    const bucket = freshBucketName('infra');
    await client.makeBucket(bucket, s3TestInfo().region);
    expect(await client.bucketExists(bucket)).toBe(true);
    await client.removeBucket(bucket);
  });

  it('waitFor polls until the condition holds and names what timed out', async () => {
    let calls = 0;
    expect(await waitFor(() => ++calls >= 3 && calls, { intervalMs: 1 })).toBe(3);
    await expect(
      waitFor(() => false, { timeoutMs: 30, intervalMs: 5, message: 'the impossible' }),
    ).rejects.toThrow('Timed out after 30 ms waiting for the impossible');
    expect(await freePort()).toBeGreaterThan(0);
  });
});
