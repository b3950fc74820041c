import { Errors, VbError } from '@visionbatch/shared/errors';
import type { FastifyError, FastifyInstance } from 'fastify';

/**
 * The single place where errors become HTTP answers: a {@link VbError} keeps its status and
 * body; fastify's own errors (bad JSON, body too large, bad content type) are translated into
 * catalog errors; anything else is a 500 with a generic message (details only in the log).
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    const e = Errors.routeNotFound(req.method, req.url.split('?')[0]);
    reply.code(e.statusCode).send(e.toBody());
  });
  app.setErrorHandler((err: FastifyError | VbError | Error, req, reply) => {
    let e: VbError;
    if (err instanceof VbError) e = err;
    else if ('code' in err && err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      e = Errors.payloadTooLarge('request body', req.routeOptions.bodyLimit ?? 0);
    else if (
      'code' in err &&
      (err.code === 'FST_ERR_REQ_FILE_TOO_LARGE' || err.code === 'FST_REQ_FILE_TOO_LARGE')
    )
      e = Errors.payloadTooLarge('file', 0);
    else if ('code' in err && err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      e = Errors.unsupportedMedia(err.message);
    else if (
      'statusCode' in err &&
      typeof err.statusCode === 'number' &&
      err.statusCode >= 400 &&
      err.statusCode < 500
    ) {
      e = new VbError('VB_ERR_BAD_REQUEST', err.statusCode, err.message);
    } else {
      req.log.error({ err }, 'unhandled error');
      e = Errors.internal();
    }
    if (e.statusCode >= 500) req.log.error({ code: e.code }, e.message);
    reply.code(e.statusCode).type('application/json; charset=utf-8').send(e.toBody());
  });
}
