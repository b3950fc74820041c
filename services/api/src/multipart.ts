import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Multipart, MultipartFile } from '@fastify/multipart';
import { Errors, VbError } from '@visionbatch/shared/errors';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import { redactSecrets } from '@visionbatch/shared/redact';
import type { FastifyRequest } from 'fastify';

/** Limits of one multipart body (busboy's names). */
export interface MultipartLimits {
  files: number;
  fields: number;
  parts: number;
  /** largest field value, bytes */
  fieldSize: number;
  /** largest file part, bytes */
  fileSize: number;
}

/**
 * A client's multipart mistake as a catalog error: our own errors pass through, a file part over
 * the limit is a 413, too many parts and everything the parser or the request stream reports (a
 * body that ends inside a part, no or the wrong boundary, malformed part headers, a client that
 * went away) a 400 naming `body`.
 */
export function multipartError(err: unknown, limits?: MultipartLimits): VbError {
  if (err instanceof VbError) return err;
  const code = (err as { code?: string }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') return Errors.payloadTooLarge('file part', limits?.fileSize ?? 0);
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT')
    return Errors.validation(
      'body',
      limits
        ? `too many parts (at most ${limits.files} files, ${limits.fields} fields, ${limits.parts} parts)`
        : 'too many parts',
    );
  const why = redactSecrets(String((err as Error)?.message ?? err)).slice(0, 200);
  return Errors.validation('body', `malformed multipart/form-data (${why})`);
}

/**
 * The parts of a multipart request, with every error of the parser (raised while waiting for the
 * next part) turned into a {@link multipartError}. Errors of the caller's own work on a part are
 * left alone, so a store failure stays a 500.
 */
export async function* multipartParts(
  req: FastifyRequest,
  limits: MultipartLimits,
): AsyncGenerator<Multipart> {
  if (!req.isMultipart()) throw Errors.unsupportedMedia('expected multipart/form-data');
  const it = req.parts({ limits });
  for (;;) {
    let next: IteratorResult<Multipart>;
    try {
      next = await it.next();
    } catch (err) {
      throw multipartError(err, limits);
    }
    if (next.done) return;
    yield next.value;
  }
}

/** The bytes of a file part as they arrive, hashed and counted; a parser error becomes a 400. */
async function* tapped(
  file: AsyncIterable<Buffer>,
  hash: ReturnType<typeof createHash>,
  counter: { bytes: number },
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of file) {
      hash.update(chunk);
      counter.bytes += chunk.length;
      yield chunk;
    }
  } catch (err) {
    throw multipartError(err);
  }
}

/**
 * Streams a file part into the store under `key` (never held whole in memory) and returns its
 * size and SHA-256. On any failure (a truncated or aborted body, a part over `limit`, a store
 * error) nothing stays under `key` and the stores' temp files are gone: the stores clean up a
 * failed put, and a put that completed on a truncated part is deleted here.
 */
export async function storeFilePart(
  store: ObjectStore,
  key: string,
  part: MultipartFile,
  opts: { what: string; limit: number; contentType: string },
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  const counter = { bytes: 0 };
  await store.put(key, Readable.from(tapped(part.file, hash, counter)), { contentType: opts.contentType });
  if (part.file.truncated) {
    await store.delete(key);
    throw Errors.payloadTooLarge(opts.what, opts.limit);
  }
  return { bytes: counter.bytes, sha256: hash.digest('hex') };
}

/** Reads a small file part into memory; past `limit` bytes it is a 413 (the rest is not read). */
export async function readSmallFilePart(part: MultipartFile, what: string, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of part.file as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > limit) throw Errors.payloadTooLarge(what, limit);
      chunks.push(chunk);
    }
  } catch (err) {
    throw multipartError(err);
  }
  if (part.file.truncated) throw Errors.payloadTooLarge(what, limit);
  return Buffer.concat(chunks);
}

/** The first file part of a multipart request (fields before it are skipped), or undefined. */
export async function firstFilePart(
  req: FastifyRequest,
  limits: MultipartLimits,
): Promise<MultipartFile | undefined> {
  for await (const part of multipartParts(req, limits)) if (part.type === 'file') return part;
  return undefined;
}

/** A part's declared media type when it is a plain `type/subtype`, else `application/octet-stream`. */
export function safeMediaType(mimetype: string | undefined): string {
  return mimetype && mimetype.length <= 100 && /^[\w.+-]+\/[\w.+-]+$/.test(mimetype)
    ? mimetype
    : 'application/octet-stream';
}
