/** Webhooks (shard, reference-ingest and job notifications) go through the SSRF guard too. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@visionbatch/shared/logger';
import { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Notifier } from '../../services/scheduler/src/notifier.ts';
import { guardedPost, UnsafeUrlError, UrlAllowlist } from '../../services/scheduler/src/ssrf-guard.ts';
import { redisTestUrl, useRedisTestDb, waitFor } from '../support/helpers.ts';

const none = new UrlAllowlist([]);
const loopback = new UrlAllowlist(['127.0.0.1']);

describe('webhook delivery under the SSRF guard', () => {
  useRedisTestDb();
  const received: Array<{ url: string; body: Record<string, unknown>; auth: string | undefined }> = [];
  let server: http.Server;
  let base = '';
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c) => {
        data += c;
      });
      req.on('end', () => {
        received.push({
          url: req.url ?? '',
          body: data ? JSON.parse(data) : {},
          auth: req.headers.authorization,
        });
        if (req.url === '/redirect') return res.writeHead(302, { location: '/hook' }).end();
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('guardedPost refuses loopback and metadata addresses unless allowlisted, and never follows redirects', async () => {
    const before = received.length;
    await expect(guardedPost(`${base}/hook`, { a: 1 }, {}, { allow: none })).rejects.toBeInstanceOf(
      UnsafeUrlError,
    );
    await expect(
      guardedPost('http://169.254.169.254/latest/meta-data/', {}, {}, { allow: none }),
    ).rejects.toBeInstanceOf(UnsafeUrlError);
    // a public-looking name that resolves to a private address is refused as well
    await expect(
      guardedPost(
        'http://hooks.example.test/x',
        {},
        {},
        {
          allow: none,
          resolve: async () => [{ address: '10.1.2.3', family: 4 }],
        },
      ),
    ).rejects.toThrow(/10\.1\.2\.3/);
    expect(received.length).toBe(before); // nothing was contacted

    expect(await guardedPost(`${base}/hook`, { a: 1 }, { authorization: 'k' }, { allow: loopback })).toBe(
      204,
    );
    expect(received.at(-1)).toMatchObject({ url: '/hook', body: { a: 1 }, auth: 'k' });
    expect(await guardedPost(`${base}/redirect`, {}, {}, { allow: loopback })).toBe(302);
    expect(received.at(-1)?.url).toBe('/redirect'); // the Location was not followed
  });

  it('the notifier refuses an unsafe URL once (no retries) and delivers an allowed one', async () => {
    const registry = new Registry();
    const outcomes = new Counter({
      name: 'vb_t_hooks',
      help: 'x',
      labelNames: ['outcome'],
      registers: [registry],
    });
    const redis = new Redis(redisTestUrl(), { maxRetriesPerRequest: null });
    const notifier = new Notifier(redis, createLogger('test', 'silent'), outcomes, none);
    notifier.start();
    try {
      const before = received.length;
      await notifier.send(`${base}/hook`, 'secret', { type: 'job' }, 'refused-1');
      await waitFor(async () => (await outcomes.get()).values.some((v) => v.labels.outcome === 'refused'), {
        timeoutMs: 10_000,
        message: 'refused delivery counted',
      });
      // an unrecoverable failure: no back-off retry follows
      await new Promise((r) => setTimeout(r, 1500));
      const values = (await outcomes.get()).values;
      expect(values.find((v) => v.labels.outcome === 'refused')?.value).toBe(1);
      expect(values.some((v) => v.labels.outcome === 'delivered')).toBe(false);
      expect(received.length).toBe(before);
    } finally {
      await notifier.close();
    }

    const allowed = new Notifier(redis, createLogger('test', 'silent'), outcomes, loopback);
    allowed.start();
    try {
      await allowed.send(`${base}/hook`, 'secret', { type: 'job' }, 'allowed-1');
      await waitFor(() => received.some((r) => r.body.type === 'job'), {
        timeoutMs: 10_000,
        message: 'delivery',
      });
      const hook = received.find((r) => r.body.type === 'job');
      expect(hook).toMatchObject({ auth: 'secret', body: { delivery_attempt: 1 } });
      expect(typeof hook?.body.event_id).toBe('string');
    } finally {
      await allowed.close();
      redis.disconnect();
    }
  });
});
