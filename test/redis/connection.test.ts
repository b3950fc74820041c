/**
 * Every Redis client of visionbatch is made by createRedis from the config: a password that replaces
 * the URL's, TLS (`rediss://`) with a private CA, and Sentinels, each against a real server.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@visionbatch/shared/config';
import { createRedis } from '@visionbatch/shared/redis';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisChild } from '../e2e/redis-child.ts';
import { freePort, redisTestInfo, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import { selfSignedCert } from '../support/tls-cert.ts';

const clients: Redis[] = [];
/**
 * A client that gives up at once instead of retrying, so a refused connection is an error here;
 * `errors` collects the messages of its error events (the rejection only says the connection closed).
 */
const connect = (env: Record<string, string>) => {
  const c = createRedis(loadConfig(env).redis, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    sentinelRetryStrategy: () => null,
  });
  const errors: string[] = [];
  c.on('error', (err: Error) => errors.push(err.message));
  clients.push(c);
  return Object.assign(c, { errors });
};
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

describe('createRedis', () => {
  it('VB_REDIS_PASSWORD replaces the password of VB_REDIS_URL (ioredis alone lets the URL win)', async () => {
    const { host, port, password } = redisTestInfo();
    const c = connect({ VB_REDIS_URL: `redis://:wrong@${host}:${port}/3`, VB_REDIS_PASSWORD: password });
    await c.connect();
    expect(await c.ping()).toBe('PONG');
    expect(c.options.db).toBe(3);
    const wrong = connect({ VB_REDIS_URL: `redis://${host}:${port}`, VB_REDIS_PASSWORD: `${password}x` });
    await expect(wrong.connect().then(() => wrong.ping())).rejects.toThrow();
    expect(wrong.errors.join('\n')).toMatch(/WRONGPASS/);
    const fromUrl = connect({ VB_REDIS_URL: redisTestUrl() });
    await fromUrl.connect();
    expect(await fromUrl.ping()).toBe('PONG');
  });

  describe('over TLS and through Sentinel', () => {
    const children: RedisChild[] = [];
    const procs: ReturnType<typeof spawn>[] = [];
    afterAll(async () => {
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all(children.map((c) => c.stop()));
    });

    it('rediss:// with VB_REDIS_TLS_CA trusts a self-signed server, and refuses it without the CA', async () => {
      const dir = await useTempDir('vb-redis-tls-');
      const tls = await selfSignedCert(dir);
      const server = await RedisChild.start(dir, { tls });
      children.push(server);
      const c = connect({ VB_REDIS_URL: server.url, VB_REDIS_TLS_CA: tls.ca });
      await c.connect();
      expect(await c.ping()).toBe('PONG');
      expect(server.url).toMatch(/^rediss:\/\//);
      const untrusted = connect({ VB_REDIS_URL: server.url });
      await expect(untrusted.connect()).rejects.toThrow();
      expect(untrusted.errors.join('\n')).toMatch(/self[- ]signed/i);
      // and the plain protocol is not spoken on that port
      const plain = connect({ VB_REDIS_URL: server.url.replace('rediss:', 'redis:') });
      await expect(plain.connect().then(() => plain.ping())).rejects.toThrow();
    });

    it('VB_REDIS_SENTINELS finds the master by name and authenticates to Sentinel and master', async () => {
      const dir = await useTempDir('vb-redis-sentinel-');
      const master = await RedisChild.start(dir);
      children.push(master);
      const port = await freePort();
      const conf = path.join(dir, 'sentinel.conf');
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          'requirepass sentinel-pw',
          `sentinel monitor vb 127.0.0.1 ${master.port} 1`,
          `sentinel auth-pass vb ${master.password}`,
          '',
        ].join('\n'),
      );
      procs.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
      const env = {
        VB_REDIS_URL: 'redis://ignored-host:1/0',
        VB_REDIS_PASSWORD: master.password,
        VB_REDIS_SENTINELS: `127.0.0.1:${port}`,
        VB_REDIS_SENTINEL_MASTER: 'vb',
        VB_REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
      };
      const port0 = await waitFor(
        async () => {
          const c = connect(env);
          await c.connect();
          return (await c.config('GET', 'port')) as string[];
        },
        { timeoutMs: 15_000, intervalMs: 200, message: 'a connection through Sentinel' },
      );
      expect(port0).toEqual(['port', String(master.port)]);
      const wrongSentinelPw = connect({ ...env, VB_REDIS_SENTINEL_PASSWORD: 'nope' });
      await expect(wrongSentinelPw.connect().then(() => wrongSentinelPw.ping())).rejects.toThrow();
      expect(wrongSentinelPw.errors.join('\n')).toMatch(/WRONGPASS|sentinel/i);
    });
  });
});
