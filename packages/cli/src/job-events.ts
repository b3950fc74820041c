import { createParser } from 'eventsource-parser';
import { type ApiClient, ApiError, ConnectionError, seg } from './api-client.ts';

/** One Server-Sent Event of a job's event stream (`GET BP/jobs/{id}/events`). */
export interface JobEvent {
  /** the stream id (`Last-Event-ID`); null for `gap`, `terminal` and `close` */
  id: string | null;
  /** state | stage | task | log | gap | terminal | close */
  event: string;
  /** the parsed JSON payload */
  data: Record<string, unknown>;
}

/** The server has no event stream, or would not open one: follow the job by polling instead. */
export class EventStreamUnavailable extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
    /** a connection that failed or broke off (worth another try), not an answer refusing the stream */
    readonly transient = true,
  ) {
    super(message);
    this.name = 'EventStreamUnavailable';
  }
}

/**
 * Opens the job's event stream once and yields its events until the server ends it (or `signal`
 * aborts). Throws {@link EventStreamUnavailable} when the stream cannot be opened: an older server
 * without the route, another API (Roboflow's), or an error answer.
 */
export async function* readJobEvents(
  client: ApiClient,
  jobId: string,
  o: { lastEventId?: string | null; signal?: AbortSignal } = {},
): AsyncGenerator<JobEvent> {
  const bp = await client.batchProcessingPrefix();
  const path = `${bp}/jobs/${seg(jobId)}/events`;
  let res: Response;
  try {
    res = await fetch(client.url(path), {
      headers: { accept: 'text/event-stream', ...(o.lastEventId ? { 'last-event-id': o.lastEventId } : {}) },
      signal: o.signal,
    });
  } catch (e) {
    throw new EventStreamUnavailable('could not open the event stream', new ConnectionError('GET', path, e));
  }
  const type = res.headers.get('content-type') ?? '';
  if (res.status !== 200 || !type.startsWith('text/event-stream') || !res.body) {
    const text = await res.text().catch(() => '');
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {}
    throw new EventStreamUnavailable(
      `no event stream (HTTP ${res.status})`,
      new ApiError(res.status, 'GET', path, body),
      false,
    );
  }
  const queue: JobEvent[] = [];
  const parser = createParser({
    onEvent: (e) => {
      let data: Record<string, unknown> = {};
      try {
        data = JSON.parse(e.data) as Record<string, unknown>;
      } catch {}
      queue.push({ id: e.id ?? null, event: e.event ?? 'message', data });
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      while (queue.length) yield queue.shift() as JobEvent;
    }
  } catch (e) {
    if (o.signal?.aborted) return;
    throw new EventStreamUnavailable('the event stream broke off', e);
  }
}

/** Options of {@link followJobEvents}. */
export interface FollowOptions {
  signal?: AbortSignal;
  /** failed (re)connections in a row before giving up. @default 3 */
  attempts?: number;
  /** pause before reconnecting. @default 1000 */
  retryDelayMs?: number;
}

/**
 * Follows a job's events to its end: every event goes to `onEvent`, and a stream the server closes
 * early (idle, maximum duration, shutdown) or that breaks off is reopened from the last event id, so
 * nothing is missed and nothing comes twice. Resolves with the `terminal` event's data; rejects with
 * {@link EventStreamUnavailable} after `attempts` failed connections in a row (the caller polls then).
 */
export async function followJobEvents(
  client: ApiClient,
  jobId: string,
  onEvent: (e: JobEvent) => void,
  o: FollowOptions = {},
): Promise<Record<string, unknown>> {
  const attempts = o.attempts ?? 3;
  let lastEventId: string | null = null;
  let failures = 0;
  for (;;) {
    let progressed = false;
    try {
      for await (const e of readJobEvents(client, jobId, { lastEventId, signal: o.signal })) {
        progressed = true;
        if (e.id) lastEventId = e.id;
        onEvent(e);
        if (e.event === 'terminal') return e.data;
      }
    } catch (e) {
      if (o.signal?.aborted) throw e;
      if (progressed) failures = 0;
      if (!(e instanceof EventStreamUnavailable) || !e.transient || ++failures >= attempts) throw e;
    }
    if (o.signal?.aborted) throw new EventStreamUnavailable('aborted');
    await new Promise((r) => setTimeout(r, o.retryDelayMs ?? 1000));
  }
}
