import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Errors, VbError } from '@visionbatch/shared/errors';
import { redactSecrets } from '@visionbatch/shared/redact';
import { isRedisUnavailable } from '@visionbatch/shared/redis';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from 'fastify';

/**
 * Fastify's own rejections as catalog errors, so every refusal has the project's body
 * (`{"error", "code", ...}`); a message fastify builds from the request (the URL, with its
 * `api_key`) is never passed through unredacted.
 */
function fromFastifyError(err: FastifyError, req: FastifyRequest): VbError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return Errors.payloadTooLarge('request body', req.routeOptions?.bodyLimit ?? 0);
    case 'FST_ERR_REQ_FILE_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return Errors.payloadTooLarge('file', 0);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return Errors.unsupportedMedia('unsupported Content-Type');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return Errors.badRequest('the body does not match its Content-Length');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return Errors.validation('body', 'empty JSON body');
    case 'FST_ERR_BAD_URL':
      return Errors.badRequest('the URL path is not valid percent-encoded UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return Errors.validation('url', 'a path parameter is longer than allowed');
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return Errors.badRequest('the request matches no route constraint');
  }
  return null;
}

/** Any error as the catalog error the client gets; unknown errors are a logged 500. */
function toVbError(err: FastifyError | VbError | Error, req: FastifyRequest): VbError {
  if (err instanceof VbError) return err;
  const known = 'code' in err ? fromFastifyError(err as FastifyError, req) : null;
  if (known) return known;
  if (isRedisUnavailable(err)) return Errors.unavailable('the state store (Redis)');
  if (
    'statusCode' in err &&
    typeof err.statusCode === 'number' &&
    err.statusCode >= 400 &&
    err.statusCode < 500
  )
    return new VbError('VB_ERR_BAD_REQUEST', err.statusCode, redactSecrets(err.message));
  req.log.error({ err }, 'unhandled error');
  return Errors.internal();
}

function send(reply: FastifyReply, e: VbError): void {
  reply.code(e.statusCode).type('application/json; charset=utf-8').send(e.toBody());
}

/**
 * The single place where errors become HTTP answers: a {@link VbError} keeps its status and
 * body; fastify's own errors (bad JSON, body too large, bad content type) are translated into
 * catalog errors; anything else is a 500 with a generic message (details only in the log).
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    send(reply, Errors.routeNotFound(req.method, req.url.split('?')[0]));
  });
  app.setErrorHandler((err: FastifyError | VbError | Error, req, reply) => {
    const e = toVbError(err, req);
    if (e.statusCode >= 500) req.log.error({ code: e.code }, e.message);
    send(reply, e);
  });
}

/**
 * Fastify options that give the errors raised before routing (a path with bad percent-encoding,
 * an over-long parameter) and on the raw connection (malformed HTTP, oversized headers, a request
 * slower than `requestTimeoutMs`) the same body as every other error.
 */
export function httpErrorOptions(
  requestTimeoutMs: number,
): Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler'> {
  return {
    frameworkErrors: (err, req, reply) => send(reply, toVbError(err, req)),
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const e =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? Errors.requestTimeout(requestTimeoutMs)
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? Errors.headersTooLarge()
            : Errors.badRequest('malformed HTTP request');
      // A response already under way on this socket cannot be replaced, only cut off.
      const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && !inFlight?.headersSent) {
        const body = JSON.stringify(e.toBody());
        socket.end(
          `HTTP/1.1 ${e.statusCode} ${STATUS_CODES[e.statusCode]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
        // A client that keeps sending after the answer is cut off shortly after.
        setTimeout(() => socket.destroy(), 1000).unref();
      } else socket.destroy();
    },
  };
}
