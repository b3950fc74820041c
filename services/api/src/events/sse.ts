import type { ServerResponse } from 'node:http';

/**
 * Server-Sent Events framing over a raw HTTP response (the route hijacks fastify's reply). Written
 * by hand rather than with a plugin: the framing is a few lines, and the route needs direct control
 * over when the response ends and over a client that reads too slowly.
 */
export class SseStream {
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    /** a client that lets this much pile up unread is dropped (it resumes with `Last-Event-ID`) */
    private readonly maxBufferedBytes = 1024 * 1024,
  ) {
    res.once('close', () => {
      this.ended = true;
    });
  }

  /** Whether the stream can no longer be written (ended by us, or the client went away). */
  get closed(): boolean {
    return this.ended || this.res.destroyed;
  }

  /** Sends the headers and the client's reconnection delay. */
  open(retryMs: number): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx and similar proxies would otherwise hold events back in their buffer
      'x-accel-buffering': 'no',
    });
    this.write(`retry: ${retryMs}\n\n`);
  }

  /**
   * One event. Answers false once the client is too far behind (the stream is then ended): it must
   * reconnect from its last id rather than make the api buffer without bound.
   */
  send(event: string, data: string, id?: string): boolean {
    const lines = data.split(/\r\n|\r|\n/).map((l) => `data: ${l}\n`);
    this.write(`${id ? `id: ${id}\n` : ''}event: ${event}\n${lines.join('')}\n`);
    if (this.res.writableLength > this.maxBufferedBytes) {
      this.end();
      return false;
    }
    return true;
  }

  /** A comment line (heartbeats): ignored by clients, keeps proxies and idle timers from closing. */
  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.res.end();
  }

  private write(chunk: string): void {
    if (!this.closed) this.res.write(chunk);
  }
}
