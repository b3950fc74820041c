import { randomUUID } from 'node:crypto';
import type { Logger } from '@visionbatch/shared/logger';
import { QUEUE_PREFIX } from '@visionbatch/shared/queues';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import { guardedPost, type Resolver, UnsafeUrlError, type UrlAllowlist } from './ssrf-guard.ts';

/** A webhook to deliver; `body` has no `delivery_attempt` yet (it is set per attempt). */
export interface WebhookDelivery {
  url: string;
  authorization: string;
  body: Record<string, unknown> & { event_id: string };
  /** the job a job webhook is about: its attempts are recorded in the job's log */
  job?: { workspace: string; jobId: string };
}

/** One delivery attempt as recorded in a job's log (`webhook-delivery`). */
export interface DeliveryAttempt {
  eventId: string;
  attempt: number;
  outcome: 'delivered' | 'rejected' | 'error' | 'refused';
  /** the receiver's HTTP status, when it answered */
  status: number | null;
  /** the receiver's host (never its path or query: they may carry a token) */
  host: string;
  /** whether another attempt follows */
  willRetry: boolean;
}

const QUEUE = 'notifications';
/** How long a delivery's id is remembered after it ended, so the same event is never sent twice. */
const DEDUPE_WINDOW_S = 7 * 24 * 3600;
/** Attempts per webhook, with exponential back-off from 1 s (spec §4.1: up to 5). */
export const WEBHOOK_ATTEMPTS = 5;

/** Deadlines of a delivery attempt (VB_WEBHOOK_DEADLINE_S, VB_DNS_TIMEOUT_MS). */
export interface NotifierOptions {
  /** total time of one attempt: DNS, connect, request, response headers (spec §4.1: 10 s) */
  deadlineMs?: number;
  dnsTimeoutMs?: number;
  /** for tests: DNS answers */
  resolve?: Resolver;
  /** hears every attempt of a job webhook (the scheduler writes it into the job's log) */
  onJobAttempt?: (job: { workspace: string; jobId: string }, attempt: DeliveryAttempt) => Promise<void>;
}

/**
 * Durable webhook delivery: each event is a BullMQ job, so a scheduler restart loses nothing;
 * retries keep the same `event_id` and count `delivery_attempt` up. Deliveries go through the
 * SSRF guard like reference downloads: a URL that resolves to a private, loopback or metadata
 * address (and is not allowlisted) is refused once, without retries; redirects are not followed.
 */
export class Notifier {
  private readonly queue: Queue;
  private worker: Worker | null = null;

  constructor(
    private readonly connection: Redis,
    private readonly logger: Logger,
    private readonly deliveries: Counter<'outcome'>,
    private readonly allow: UrlAllowlist,
    private readonly opts: NotifierOptions = {},
  ) {
    this.queue = new Queue(QUEUE, { connection, prefix: QUEUE_PREFIX });
  }

  /**
   * Enqueues a delivery; `dedupeId` makes a repeated call for the same event a no-op (completed
   * deliveries are kept for a week, so the window covers any redo of an outbox entry). The body's
   * `event_id` is kept when given (an outbox entry fixes it once), else a new one is made.
   */
  async send(
    url: string,
    authorization: string,
    body: Record<string, unknown>,
    dedupeId?: string,
    job?: { workspace: string; jobId: string },
  ): Promise<void> {
    const event_id = typeof body.event_id === 'string' ? body.event_id : randomUUID();
    await this.queue.add(
      'webhook',
      { url, authorization, body: { ...body, event_id }, ...(job ? { job } : {}) } satisfies WebhookDelivery,
      {
        jobId: dedupeId,
        attempts: WEBHOOK_ATTEMPTS,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: DEDUPE_WINDOW_S },
        removeOnFail: { age: DEDUPE_WINDOW_S },
      },
    );
  }

  start(): void {
    this.worker = new Worker<WebhookDelivery>(
      QUEUE,
      async (job) => {
        const { url, authorization, body } = job.data;
        const payload = { ...body, delivery_attempt: job.attemptsMade + 1 };
        const host = new URL(url).host;
        const record = async (outcome: DeliveryAttempt['outcome'], status: number | null) => {
          this.deliveries.inc({ outcome });
          if (!job.data.job || !this.opts.onJobAttempt) return;
          const willRetry =
            outcome !== 'delivered' && outcome !== 'refused' && payload.delivery_attempt < WEBHOOK_ATTEMPTS;
          await this.opts
            .onJobAttempt(job.data.job, {
              eventId: body.event_id,
              attempt: payload.delivery_attempt,
              outcome,
              status,
              host,
              willRetry,
            })
            .catch((err) =>
              this.logger.warn({ err: (err as Error).message }, 'could not record a delivery attempt'),
            );
        };
        let status: number;
        try {
          status = await guardedPost(
            url,
            payload,
            { authorization },
            {
              allow: this.allow,
              deadlineMs: this.opts.deadlineMs ?? 10_000,
              dnsTimeoutMs: this.opts.dnsTimeoutMs,
              resolve: this.opts.resolve,
            },
          );
        } catch (err) {
          if (err instanceof UnsafeUrlError) {
            await record('refused', null);
            throw new UnrecoverableError(err.message);
          }
          await record('error', null);
          // The message names the host, never the URL's path or query (they may carry a token).
          throw new Error(`webhook to ${host} failed: ${(err as Error).message}`);
        }
        if (status < 200 || status >= 300) {
          await record('rejected', status);
          throw new Error(`webhook to ${host} answered ${status}`);
        }
        await record('delivered', status);
        this.logger.info(
          { host, eventId: body.event_id, attempt: payload.delivery_attempt },
          'webhook delivered',
        );
      },
      {
        connection: this.connection,
        prefix: QUEUE_PREFIX,
        concurrency: 8,
        // A delivery held by a replica that died comes back within ~20 s (not BullMQ's 30 s + 30 s),
        // same event_id; a live replica renews the lock every 7.5 s, well inside it.
        lockDuration: 15_000,
        stalledInterval: 5_000,
      },
    );
    this.worker.on('failed', (job, err) =>
      this.logger.warn({ err: err.message, attempts: job?.attemptsMade }, 'webhook attempt failed'),
    );
    this.worker.on('error', (err) => this.logger.error({ err }, 'webhook worker error'));
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}
