/**
 * A local webhook endpoint for the chaos run: it answers each delivery (a seeded share of them with
 * a 503, so the scheduler's retries are exercised too) and records every one, so the run can tell
 * how many distinct events arrived and whether any was delivered twice.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Rng } from '@visionbatch/models';

/** One delivery as received. */
export interface Delivery {
  eventId: string;
  jobId: string;
  jobState: string;
  attempt: number;
  /** the status this receiver answered */
  status: number;
}

export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  private server: http.Server | null = null;
  private readonly rng: Rng;

  constructor(
    seed: number,
    /** share of deliveries answered 503 (a flaky receiver); retries must not count as duplicates */
    private readonly failRate = 0.2,
  ) {
    this.rng = new Rng(seed ^ 0x5eed);
  }

  /** Starts listening on 127.0.0.1; answers the URL to give jobs. */
  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {}
        const status = this.rng.next() < this.failRate ? 503 : 200;
        this.deliveries.push({
          eventId: String(body.event_id ?? ''),
          jobId: String(body.job_id ?? ''),
          jobState: String(body.job_state ?? ''),
          attempt: Number(body.delivery_attempt ?? 0),
          status,
        });
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
