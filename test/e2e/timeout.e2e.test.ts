/**
 * `processingTimeoutSeconds` over real processes: a job whose work takes longer than its budget
 * fails with a clear log entry, and no task is still being offered to machines afterwards.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import {
  createJob,
  logs,
  registerSlowModel,
  slowJobBody,
  stageImages,
  stages,
  startStack,
  waitTerminal,
} from './e2e-support.ts';
import type { Stack } from './stack.ts';

describe('processing timeout', () => {
  let stack: Stack;
  const hooks: Array<{ headers: http.IncomingHttpHeaders; body: Record<string, unknown> }> = [];
  let receiver: http.Server;
  let hookUrl = '';
  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c) => {
        data += c;
      });
      req.on('end', () => {
        hooks.push({ headers: req.headers, body: JSON.parse(data) });
        // the first attempt is refused, so the job's log shows a retried delivery
        res.statusCode = hooks.length === 1 ? 503 : 200;
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    await flushRedisTestDb();
    const dir = await useTempDir('vb-e2e-timeout-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'), {
      VB_IMAGES_PER_TASK: '8',
      VB_URL_ALLOWLIST: '127.0.0.1', // the receiver listens on loopback
    });
    await registerSlowModel(stack, dir);
    await stageImages(stack, dir, 'slow', 40);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    receiver?.close();
  });

  it('fails the job once the budget is spent, with a processing-timeout log', async () => {
    // 40 images of ~100 ms each on one machine take ~4 s or more; the budget is 1 s.
    await createJob(
      stack,
      'too-slow',
      slowJobBody(stack, 'slow', {
        processingTimeoutSeconds: 1,
        maxParallelTasks: 1,
        notificationsURL: hookUrl,
      }),
    );
    const job = await waitTerminal(stack, 'too-slow', 60_000);
    expect(job.isTerminal).toBe(true);
    expect(job.error).toBe(true);
    expect(String(job.lastNotification)).toMatch(/timeout/);
    const { logs: entries } = await logs(stack, 'too-slow');
    const entry = entries.find((l) => l.logType === 'processing-timeout');
    expect(entry).toMatchObject({ severity: 'error', reportingModule: 'scheduler' });
    const processing = (await stages(stack, 'too-slow')).find((s) => s.processingStageName === 'processing');
    expect(processing.statusType).toBe('error');
    // the job webhook (spec §4.3): refused once, then delivered with the same event_id, and the
    // workspace's webhook secret
    await waitFor(() => hooks.length > 1, { timeoutMs: 30_000, message: 'job webhook, second attempt' });
    expect(hooks).toHaveLength(2);
    expect(hooks[1].body).toMatchObject({
      type: 'roboflow-batch-job-notification-v1',
      job_id: 'too-slow',
      job_state: 'fail',
      delivery_attempt: 2,
      event_id: hooks[0].body.event_id,
    });
    expect(hooks[0].body.event_id).toMatch(/^[0-9a-f-]{36}$/);
    // both attempts are in the job's log (what the console's job page lists)
    const deliveries = await waitFor(
      async () => {
        const d = (await logs(stack, 'too-slow')).logs.filter((l) => l.logType === 'webhook-delivery');
        return d.length === 2 ? d : null;
      },
      { timeoutMs: 10_000, message: 'delivery attempts logged' },
    );
    expect(deliveries.map((d) => d.payload)).toEqual([
      {
        eventId: hooks[0].body.event_id,
        attempt: 1,
        outcome: 'rejected',
        status: 503,
        host: new URL(hookUrl).host,
        willRetry: true,
      },
      {
        eventId: hooks[0].body.event_id,
        attempt: 2,
        outcome: 'delivered',
        status: 200,
        host: new URL(hookUrl).host,
        willRetry: false,
      },
    ]);
    expect(deliveries.map((d) => d.severity)).toEqual(['warning', 'info']);
    const secret = await stack.call('GET', `/visionbatch/v1/${stack.workspace}/webhook-secret`);
    expect(hooks[0].headers.authorization).toBe(secret.json.authorization);
  });
});
