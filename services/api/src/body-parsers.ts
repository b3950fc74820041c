import { Errors } from '@visionbatch/shared/errors';
import type { FastifyInstance } from 'fastify';

/**
 * Deepest nesting of objects and arrays accepted in JSON from clients. Real bodies nest a dozen
 * levels at most; the cap keeps every recursive walk of client JSON in the api (definition
 * unwrapping, canonical hashing, the workflow compiler, JSON.stringify) far from the stack limit.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The path (`a.b[3].c`) of the first value nested deeper than `max` levels in `value`, or null.
 * Iterative, so it cannot overflow the stack on the very input it guards against.
 */
export function jsonTooDeepAt(value: unknown, max = MAX_JSON_DEPTH): string | null {
  const stack: Array<{ v: unknown; depth: number; path: string }> = [{ v: value, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop() as { v: unknown; depth: number; path: string };
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return path || 'body';
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) stack.push({ v: x, depth: depth + 1, path: `${path}[${i}]` });
    } else
      for (const [k, x] of Object.entries(v))
        stack.push({ v: x, depth: depth + 1, path: path ? `${path}.${k}` : k });
  }
  return null;
}

/** Shortens a field path for an error message (a path 64 levels deep is long). */
function shortPath(path: string): string {
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

/**
 * Throws a 400 naming the field when `value` nests deeper than {@link MAX_JSON_DEPTH}; for JSON
 * that arrives inside another field (a definition sent as a string).
 */
export function assertJsonDepth(value: unknown, fieldPrefix = ''): void {
  const at = jsonTooDeepAt(value);
  if (at)
    throw Errors.validation(
      shortPath(fieldPrefix ? `${fieldPrefix}${at === 'body' ? '' : `.${at}`}` : at),
      `nested deeper than ${MAX_JSON_DEPTH} levels`,
    );
}

/**
 * The api's body parsers, replacing fastify's defaults:
 * - JSON: fastify's own parser (prototype-poisoning checks) plus {@link MAX_JSON_DEPTH}; an empty
 *   body is no body, so a body-less POST sent with `Content-Type: application/json` is accepted.
 * - any other type (multipart has its own parser): only an empty body is accepted, as curl's
 *   `-d ''` and Python's urllib send on body-less POSTs (`application/x-www-form-urlencoded`,
 *   zero length); anything else is 415 at its first byte, without reading the rest.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // fastify's text/plain parser would hand routes a string body no route takes.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body.length === 0) return done(null, undefined);
    parseJson(req, body.toString(), (err, value) => {
      if (err) return done(Errors.validation('body', 'not valid JSON'), undefined);
      try {
        assertJsonDepth(value);
      } catch (depthErr) {
        return done(depthErr as Error, undefined);
      }
      done(null, value);
    });
  });
  app.addContentTypeParser('*', (req, payload, done) => {
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      done(err, undefined);
    };
    payload.on('data', (chunk: Buffer) => {
      if (chunk.length > 0)
        settle(
          Errors.unsupportedMedia(
            `Content-Type "${String(req.headers['content-type'] ?? '').slice(0, 100)}" is not accepted here: send application/json, multipart/form-data or no body`,
          ),
        );
    });
    payload.on('end', () => settle(null));
    payload.on('error', (err: Error) => settle(err));
  });
}
