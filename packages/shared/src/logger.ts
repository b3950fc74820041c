import { type DestinationStream, type Logger, pino } from 'pino';
import { REDACTED, redactSecrets } from './redact.ts';

export type { Logger };

/** An error as logged: pino's standard fields, with URLs in its message and stack redacted. */
function errSerializer(err: Error): Record<string, unknown> {
  const out = pino.stdSerializers.err(err) as unknown as Record<string, unknown>;
  for (const k of ['message', 'stack']) if (typeof out[k] === 'string') out[k] = redactSecrets(out[k]);
  return out;
}

/** A request as logged: method and URL (credentials redacted), never its headers. */
function reqSerializer(req: { method?: string; url?: string; id?: unknown }): Record<string, unknown> {
  return {
    id: req.id,
    method: req.method,
    url: typeof req.url === 'string' ? redactSecrets(req.url) : undefined,
  };
}

/**
 * JSON logger of one process. Child loggers carry `workspace`, `jobId`, `taskId` so every line
 * about a job can be found with one query. No line carries an API key or a URL signature: `err`,
 * `req` and `url` fields and the message itself pass through {@link redactSecrets}, and
 * `authorization` headers are censored.
 */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: errSerializer, error: errSerializer, req: reqSerializer, url: redactSecrets },
      redact: { paths: ['authorization', '*.authorization', '*.headers.authorization'], censor: REDACTED },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>,
          );
        },
      },
    },
    destination,
  );
}
