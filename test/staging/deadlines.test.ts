/**
 * Total deadlines of the ingest side's outbound calls, against real local servers: a reference
 * download from a server that drips bytes forever ends at its deadline (into memory and into a
 * file) and the connection is closed; a DNS lookup that never answers ends at the DNS deadline; a
 * webhook to a server that never answers ends at its deadline, and one whose body drips forever
 * returns its status at once. A reference ingest reports a dripping reference as that file's
 * failure while the references beside it are ingested.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { DeadlineExceededError } from '@visionbatch/shared/deadline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkUrl,
  DownloadError,
  guardedFetch,
  guardedFetchToFile,
  guardedPost,
  UrlAllowlist,
} from '../../services/scheduler/src/ssrf-guard.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import { jpeg, type StagingHarness, startReceiver, startStagingHarness } from './staging-support.ts';

const allow = new UrlAllowlist(['127.0.0.1']);
/** Slack for a loaded, shared machine: a deadline must end within it, not within the next minute. */
const SLACK_MS = 3000;

describe('deadlines of outbound calls', () => {
  let server: http.Server;
  let base: string;
  /** Connections the server saw closed, by path. */
  const closed: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.socket.on('close', () => closed.push(req.url ?? ''));
      if (req.url === '/ok.jpg') return res.writeHead(200).end(jpeg());
      if (req.url === '/silent') return; // accepts, never answers
      // 200, then one byte every 50 ms, forever
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
      const timer = setInterval(() => res.write(Buffer.from([1])), 50);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const timed = async (p: Promise<unknown>) => {
    const t0 = performance.now();
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    return { err, ms: performance.now() - t0 };
  };
  const closedAfter = (p: string) =>
    waitFor(() => closed.includes(p), { timeoutMs: SLACK_MS, message: `${p} connection closed` });

  it('a download that trickles bytes forever ends at its total deadline, in memory and into a file', async () => {
    const mem = await timed(guardedFetch(`${base}/drip-mem`, { allow, maxBytes: 1e9, deadlineMs: 800 }));
    expect(mem.err).toBeInstanceOf(DeadlineExceededError);
    expect(mem.ms).toBeGreaterThanOrEqual(790);
    expect(mem.ms).toBeLessThan(800 + SLACK_MS);
    await closedAfter('/drip-mem');

    const file = path.join(await useTempDir(), 'video');
    const disk = await timed(
      guardedFetchToFile(`${base}/drip-file`, file, { allow, maxBytes: 1e9, deadlineMs: 800 }),
    );
    expect(disk.err).toBeInstanceOf(DeadlineExceededError);
    expect(disk.ms).toBeLessThan(800 + SLACK_MS);
    await closedAfter('/drip-file');
    // what arrived before the deadline went to disk, not to memory
    expect((await readFile(file)).length).toBeGreaterThan(4);
  });

  it('a DNS lookup that never answers ends at the DNS deadline', async () => {
    const never = () => new Promise<Array<{ address: string; family: number }>>(() => {});
    const r = await timed(checkUrl('http://hangs.test/a.jpg', allow, never, 300));
    expect(r.err).toBeInstanceOf(DownloadError);
    expect((r.err as DownloadError).message).toMatch(/cannot resolve hangs\.test: .*300 ms/);
    expect(r.ms).toBeLessThan(300 + SLACK_MS);
  });

  it('a webhook to a server that never answers ends at its deadline; a dripping body does not hold it', async () => {
    const silent = await timed(guardedPost(`${base}/silent`, { a: 1 }, {}, { allow, deadlineMs: 600 }));
    expect(silent.err).toBeInstanceOf(DeadlineExceededError);
    expect(silent.ms).toBeLessThan(600 + SLACK_MS);
    await closedAfter('/silent');

    const drip = await timed(guardedPost(`${base}/drip-hook`, { a: 1 }, {}, { allow, deadlineMs: 60_000 }));
    expect(drip.err).toBeNull();
    expect(drip.ms).toBeLessThan(SLACK_MS);
    await closedAfter('/drip-hook');
  });

  describe('in a reference ingest', () => {
    let h: StagingHarness;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;

    beforeAll(async () => {
      await flushRedisTestDb();
      receiver = await startReceiver();
      h = await startStagingHarness({
        redisUrl: redisTestUrl(),
        store: { driver: 'fs', dir: await useTempDir() },
        env: { VB_DOWNLOAD_DEADLINE_S: '1' },
      });
      await h.startReferences({ allow: ['127.0.0.1'] });
    });
    afterAll(async () => {
      await h?.close();
      await receiver?.close();
    });

    it("a dripping reference is that file's failure at the deadline; the good one beside it is ingested", async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/data-staging/v1/external/ws-a/batches/drip/bulk-upload/image-references?api_key=key-a',
        payload: {
          imageReferences: [
            { name: 'ok.jpg', url: `${base}/ok.jpg` },
            { name: 'drip.jpg', url: `${base}/drip-ref` },
          ],
          ingestId: 'drip',
          notificationsURL: receiver.url,
          notificationCategories: ['files-status'],
        },
      });
      expect(res.statusCode, res.body).toBe(200);
      await waitFor(() => receiver.bodies.some((b) => b.ingest_id === 'drip'), {
        timeoutMs: 1000 + 2 * SLACK_MS,
        message: 'files-status of the dripping ingest',
      });
      const files = receiver.bodies.find((b) => b.ingest_id === 'drip')!.notification;
      expect(files.ingested_files).toEqual(['ok.jpg']);
      expect(files.failed_files).toEqual([
        { type: 'download-failed', file_name: 'drip.jpg', reason: expect.stringContaining('within 1000 ms') },
      ]);
      await closedAfter('/drip-ref');
    });
  });
});
