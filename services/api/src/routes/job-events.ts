import { Errors } from '@visionbatch/shared/errors';
import { assertJobId } from '@visionbatch/shared/ids';
import { keys } from '@visionbatch/shared/redis-keys';
import { iso } from '@visionbatch/shared/time';
import { STREAM_ID_RE } from '@visionbatch/shared/wire/job-events';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Gauge } from 'prom-client';
import type { ApiDeps } from '../deps.ts';
import type { StreamEntry, Subscription } from '../events/event-hub.ts';
import { SseStream } from '../events/sse.ts';
import { compareStreamIds } from '../events/stream-id.ts';
import { jobMetadata } from '../job-details.ts';

type JobParams = { workspace: string; jobId: string };
type CloseReason = 'idle' | 'max-duration' | 'server-shutdown';

/** Entries read per replay round trip. */
const REPLAY_PAGE = 500;
/** The reconnection delay the stream asks of clients. */
const RETRY_MS = 2000;

/** `Last-Event-ID` (header, or `lastEventId` in the query for clients that cannot set headers). */
function lastEventIdOf(req: FastifyRequest<{ Querystring: Record<string, unknown> }>): string | null {
  const header = req.headers['last-event-id'];
  const v = typeof header === 'string' && header !== '' ? header : req.query.lastEventId;
  if (v === undefined || v === '') return null;
  if (typeof v !== 'string' || !STREAM_ID_RE.test(v))
    throw Errors.validation(
      'Last-Event-ID',
      'must be the id of an event of this stream, such as 1712345678901-0',
    );
  return v;
}

/**
 * `GET .../jobs/{jobId}/events`: the job's events as Server-Sent Events. Replays the job's event
 * stream from the start (or after `Last-Event-ID`), then follows it live through the process's one
 * {@link JobEventHub}, with heartbeat comments, until the job ends: after its terminal `state`
 * event comes `event: terminal` with the job's final state, and the stream closes. A stream also
 * closes, with `event: close`, when the job wrote nothing for the idle timeout, when it reached its
 * longest life, or when the api shuts down; the client reconnects with `Last-Event-ID`.
 */
export function jobEventRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const BP = '/batch-processing/v1/external/:workspace';
  const { maxStreams, heartbeatMs, idleTimeoutMs, maxDurationMs } = deps.config.events;
  const open = new Set<(reason?: CloseReason) => void>();
  new Gauge({
    name: 'vb_api_event_streams',
    help: 'Job event streams this api process serves now',
    registers: [deps.metrics],
    collect() {
      this.set(open.size);
    },
  });
  // Before the server waits for its connections to end: a following stream never ends by itself.
  app.addHook('preClose', async () => {
    for (const stop of [...open]) stop('server-shutdown');
  });

  app.get<{ Params: JobParams; Querystring: Record<string, unknown> }>(
    `${BP}/jobs/:jobId/events`,
    async (req, reply) => {
      const ws = req.workspace;
      const jobId = assertJobId(req.params.jobId);
      const after = lastEventIdOf(req);
      const rec = await deps.jobs.get(ws, jobId);
      if (!rec) throw Errors.notFound('job', jobId);
      if (open.size >= maxStreams) throw Errors.tooManyStreams(maxStreams);

      reply.hijack();
      const sse = new SseStream(reply.raw);
      const key = keys.jobEvents(ws, jobId);
      let cursor = after ?? '0';
      // The job's terminal state event, written with the state in one script, is the last event of
      // a job that ended: a job that ended with nothing after the cursor has nothing more to send.
      let ended: { state: string } | null = rec.isTerminal ? { state: rec.state } : null;
      let done = false;
      let sub: Subscription | null = null;
      let idle: NodeJS.Timeout | undefined;
      const resetIdle = () => {
        clearTimeout(idle);
        idle = setTimeout(() => stop('idle'), idleTimeoutMs);
      };
      const heartbeat = setInterval(() => sse.comment(`heartbeat ${iso(Date.now())}`), heartbeatMs);
      const lifetime = setTimeout(() => stop('max-duration'), maxDurationMs);
      const stop = (reason?: CloseReason) => {
        if (done) return;
        done = true;
        clearInterval(heartbeat);
        clearTimeout(lifetime);
        clearTimeout(idle);
        sub?.close();
        open.delete(stop);
        if (reason) sse.send('close', JSON.stringify({ reason }));
        sse.end();
      };
      open.add(stop);
      reply.raw.once('close', () => stop());

      const deliver = (entries: readonly StreamEntry[]) => {
        for (const e of entries) {
          if (done) return;
          if (!sse.send(e.type, e.data, e.id)) return stop();
          cursor = e.id;
          if (e.type === 'state') {
            const d = JSON.parse(e.data) as { state: string; terminal?: boolean };
            ended = d.terminal ? { state: d.state } : null;
          }
        }
        if (entries.length) resetIdle();
      };
      let finishing = false;
      const finish = async () => {
        if (finishing || done) return;
        finishing = true;
        const now = await deps.jobs.get(ws, jobId);
        const job = now?.isTerminal ? await jobMetadata(deps, now) : null;
        sse.send(
          'terminal',
          JSON.stringify({
            jobId,
            state: job ? now?.state : ended?.state,
            error: job ? job.error : ended?.state !== 'succeeded',
            isTerminal: true,
            lastNotification: job?.lastNotification ?? null,
            progress: job?.progress ?? (ended?.state === 'succeeded' ? 1 : 0),
            estimatedCompletion: job?.estimatedCompletion ?? null,
          }),
        );
        stop();
      };

      try {
        sse.open(RETRY_MS);
        resetIdle();
        if (after) {
          const [first] = await deps.redis.xrange(key, '-', '+', 'COUNT', 1);
          if (first && compareStreamIds(after, first[0]) < 0)
            sse.send(
              'gap',
              JSON.stringify({
                lastEventId: after,
                firstAvailableId: first[0],
                message:
                  'events after Last-Event-ID were dropped from the capped stream; re-read the job, then follow on',
              }),
            );
        }
        for (;;) {
          const page = await deps.jobs.events(ws, jobId, cursor, REPLAY_PAGE);
          deliver(page);
          if (done) return;
          if (page.length < REPLAY_PAGE) break;
        }
        if (ended) return await finish();
        sub = deps.events.follow(key, cursor, (entries) => {
          deliver(entries);
          if (ended && !done) void finish().catch(fail);
        });
      } catch (err) {
        fail(err);
      }

      function fail(err: unknown) {
        req.log.warn({ err: (err as Error).message, jobId }, 'job event stream ended by an error');
        stop();
      }
    },
  );
}
