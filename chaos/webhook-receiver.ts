/**
 * A local webhook endpoint for the chaos run: it records every delivery and answers it, refusing
 * (503) the first attempt of every `failEvery`-th event so that the scheduler's retries are
 * exercised too; the run then tells how many distinct events arrived and whether any came twice.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

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
  private readonly events = new Set<string>();

  /** `failEvery` 0: every delivery is answered 200. */
  constructor(private readonly failEvery = 3) {}

  /** Starts listening on 127.0.0.1; answers the URL to give jobs. */
  async start(): Promise<string> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {}
        const eventId = String(body.event_id ?? '');
        const first = !this.events.has(eventId);
        this.events.add(eventId);
        const refuse = first && this.failEvery > 0 && this.events.size % this.failEvery === 0;
        const status = refuse ? 503 : 200;
        this.deliveries.push({
          eventId,
          jobId: String(body.job_id ?? ''),
          jobState: String(body.job_state ?? ''),
          attempt: Number(body.delivery_attempt ?? 0),
          status,
        });
        res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    this.server = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  }

  async close(): Promise<void> {
    const server = this.server;
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  }
}
