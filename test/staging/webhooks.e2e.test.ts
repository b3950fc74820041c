/**
 * Durable webhooks (spec §4.1, §4.2) with real processes: a receiver on 127.0.0.1 that fails the
 * first two deliveries of every event gets the third with `delivery_attempt` 3 and the same
 * `event_id`, although the scheduler is killed (SIGKILL) and restarted between attempts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../e2e/stack.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import { buildTar, jpeg } from './staging-support.ts';

interface Received {
  at: number;
  authorization: string | undefined;
  body: Record<string, any>;
  answered: number;
}

describe('webhook delivery survives failures and a scheduler restart', () => {
  let stack: Stack;
  let server: http.Server;
  let url: string;
  const received: Received[] = [];
  const failuresLeft = new Map<string, number>();

  beforeAll(async () => {
    await flushRedisTestDb();
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const left = failuresLeft.get(body.event_id) ?? 2;
        const status = left > 0 ? 500 : 200;
        failuresLeft.set(body.event_id, left - 1);
        received.push({ at: Date.now(), authorization: req.headers.authorization, body, answered: status });
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    stack = await Stack.create({
      redisUrl: redisTestUrl(),
      dataDir: await useTempDir('vb-webhooks-'),
      extraEnv: { VB_PUBLISHABLE_KEYS: 'e2e:pk_test_e2e', VB_URL_ALLOWLIST: '127.0.0.1' },
    });
    await stack.start('api');
    await stack.start('scheduler');
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await new Promise((r) => server?.close(r));
  });

  it('retries with the same event_id, counts delivery_attempt up, and loses nothing across a SIGKILL', async () => {
    const DS = `/data-staging/v1/external/${stack.workspace}`;
    const tarBytes = await buildTar([
      {
        name: 'notification_config.json',
        body: JSON.stringify({ ingestId: 'ingest-e2e-1', notificationsURL: url }),
      },
      { name: 'a.jpg', body: jpeg(1) },
      { name: 'b.jpg', body: jpeg(2) },
      { name: 'notes.txt', body: 'not an image' },
    ]);
    const reg = await stack.call('POST', `${DS}/batches/hooks/bulk-upload/image-files?displayName=hooks`);
    expect(reg.status).toBe(200);
    const { uploadURL, extensionHeaders } = reg.json.signedURLDetails;
    const put = await fetch(uploadURL, { method: 'PUT', body: tarBytes, headers: extensionHeaders });
    expect(put.status).toBe(200);

    // first attempt of both events (files-status and ingest-status) is answered 500
    await waitFor(async () => new Set(received.map((r) => r.body.event_id)).size === 2, {
      timeoutMs: 30_000,
      intervalMs: 50,
      message: 'first attempts',
    });
    // let the scheduler record the failure (the retry is due after ≥ 1 s), then crash it
    await new Promise((r) => setTimeout(r, 300));
    const beforeKill = received.length;
    await stack.kill('scheduler', 'SIGKILL');
    const restartedAt = Date.now();
    await stack.start('scheduler');

    await waitFor(async () => received.filter((r) => r.answered === 200).length === 2, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: 'third attempts delivered',
    });
    expect(beforeKill).toBeLessThan(received.length);

    const byEvent = new Map<string, Received[]>();
    for (const r of received) byEvent.set(r.body.event_id, [...(byEvent.get(r.body.event_id) ?? []), r]);
    expect(byEvent.size).toBe(2);
    const kinds = new Set<string>();
    for (const [eventId, attempts] of byEvent) {
      expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
      expect(attempts.map((a) => a.body.delivery_attempt)).toEqual([1, 2, 3]);
      expect(attempts.map((a) => a.answered)).toEqual([500, 500, 200]);
      // attempts 2 and 3 came from the restarted scheduler: the retry state lived in Redis
      expect(attempts[1].at).toBeGreaterThanOrEqual(restartedAt);
      // identical payload apart from delivery_attempt
      const strip = (b: Record<string, unknown>) => ({ ...b, delivery_attempt: undefined });
      expect(strip(attempts[2].body)).toEqual(strip(attempts[0].body));
      for (const a of attempts) expect(a.authorization).toBe('pk_test_e2e');
      const b = attempts[0].body;
      expect(b).toMatchObject({
        type: 'roboflow-data-staging-notification-v1',
        ingest_id: 'ingest-e2e-1',
        batch_id: 'hooks',
      });
      kinds.add(b.notification.type);
      if (b.notification.type === 'ingest-files-status-notification-v1') {
        expect(b.shard_id).toBeTypeOf('string');
        expect(b.notification.ingested_files.sort()).toEqual(['a.jpg', 'b.jpg']);
        expect(b.notification.failed_files).toEqual([
          { type: 'not-an-image', file_name: 'notes.txt', reason: expect.any(String) },
        ]);
        expect(b.notification.content_truncated).toBe(false);
        // a processed shard is a success; its failures are listed in failed_files
        expect(b.notification.success).toBe(true);
      } else {
        expect(b.shard_id).toBeNull();
        expect(b.notification).toMatchObject({ type: 'ingest-status-notification-v1', success: true });
      }
    }
    expect([...kinds].sort()).toEqual([
      'ingest-files-status-notification-v1',
      'ingest-status-notification-v1',
    ]);
    // nothing delivered twice after success
    await new Promise((r) => setTimeout(r, 1500));
    expect(received.filter((r) => r.answered === 200)).toHaveLength(2);
  }, 120_000);

  it('parallel first requests naming a new batch all succeed over real HTTP (8 shard URLs at once, as the CLI does)', async () => {
    const DS = `/data-staging/v1/external/${stack.workspace}`;
    for (let round = 0; round < 10; round++) {
      const res = await Promise.all(
        Array.from({ length: 8 }, () =>
          stack.call('POST', `${DS}/batches/race-${round}/bulk-upload/image-files?displayName=race`),
        ),
      );
      expect(
        res.map((r) => r.status),
        JSON.stringify(res.find((r) => r.status !== 200)?.json),
      ).toEqual(Array(8).fill(200));
    }
  });

  it('the running scheduler downloads reference ingests through the guard (allowlisted 127.0.0.1, refused metadata address)', async () => {
    const DS = `/data-staging/v1/external/${stack.workspace}`;
    const files = http.createServer((req, res) => res.writeHead(200).end(jpeg(req.url?.length ?? 1)));
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
      const res = await stack.call(
        'POST',
        `${DS}/batches/refs-e2e/bulk-upload/image-references?displayName=refs`,
        {
          imageReferences: [
            { name: 'a.jpg', url: `${base}/a` },
            { name: 'b.jpg', url: `${base}/b` },
            { name: 'meta.jpg', url: 'http://169.254.169.254/latest/meta-data/' },
          ],
          ingestId: 'refs-e2e',
          notificationsURL: url,
          notificationCategories: ['ingest-status', 'files-status'],
        },
      );
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ ingestId: 'refs-e2e', duplicated: false });
      await waitFor(async () => (await stack.call('GET', `${DS}/batches/refs-e2e/count`)).json.count === 2, {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: '2 files',
      });
      await waitFor(
        async () =>
          received.some(
            (r) =>
              r.body.ingest_id === 'refs-e2e' &&
              r.answered === 200 &&
              r.body.notification.type === 'ingest-files-status-notification-v1',
          ),
        {
          timeoutMs: 30_000,
          intervalMs: 100,
          message: 'files-status delivered',
        },
      );
      const filesEvt = received.find(
        (r) =>
          r.body.ingest_id === 'refs-e2e' &&
          r.body.notification.type === 'ingest-files-status-notification-v1',
      )!.body;
      expect(filesEvt.notification.failed_files).toEqual([
        {
          type: 'unsafe-url-detected',
          file_name: 'meta.jpg',
          reason: expect.stringContaining('169.254.169.254'),
        },
      ]);
    } finally {
      await new Promise((r) => files.close(r));
    }
  }, 60_000);
});
