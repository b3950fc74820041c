import { Readable } from 'node:stream';
import { ObjectSizeMismatchError } from './object-size-mismatch-error.ts';
import type { ObjectBody } from './object-store.ts';

/** A body that is already in memory. */
export function isInMemoryBody(body: ObjectBody): body is Buffer | Uint8Array | string {
  return typeof body === 'string' || body instanceof Uint8Array;
}

/** An in-memory body as a Buffer, without copying bytes. */
export function toBuffer(body: Buffer | Uint8Array | string): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function toChunkBuffer(chunk: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return toBuffer(chunk);
  throw new TypeError(`put: stream produced a ${typeof chunk} chunk; expected bytes or strings`);
}

/**
 * The body as a sequence of Buffers, pulled one at a time, so a stream is never held whole. When
 * `expectedSize` is given, throws `ObjectSizeMismatchError` as soon as the body runs past it, or at the
 * end when it falls short.
 */
export async function* bodyChunks(
  key: string,
  body: ObjectBody,
  expectedSize?: number,
): AsyncGenerator<Buffer> {
  let total = 0;
  const check = (chunk: Buffer): Buffer => {
    total += chunk.length;
    if (expectedSize !== undefined && total > expectedSize) {
      throw new ObjectSizeMismatchError(key, expectedSize, total);
    }
    return chunk;
  };
  if (isInMemoryBody(body)) {
    const buf = toBuffer(body);
    if (buf.length > 0) yield check(buf);
  } else {
    // Old-style streams (NodeJS.ReadableStream without async iteration) are wrapped; breaking out of
    // the loop (an error downstream) destroys the source stream.
    const source: AsyncIterable<unknown> =
      body instanceof Readable || Symbol.asyncIterator in body
        ? (body as AsyncIterable<unknown>)
        : new Readable({ objectMode: false }).wrap(body);
    for await (const chunk of source) {
      const buf = toChunkBuffer(chunk);
      if (buf.length > 0) yield check(buf);
    }
  }
  if (expectedSize !== undefined && total !== expectedSize) {
    throw new ObjectSizeMismatchError(key, expectedSize, total);
  }
}

/**
 * Regroups chunks into parts of exactly `partSize` bytes (the last one shorter, never empty). Holds at
 * most one part plus one chunk.
 */
export async function* fixedSizeParts(
  chunks: AsyncIterable<Buffer>,
  partSize: number,
): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of chunks) {
    pending.push(chunk);
    pendingBytes += chunk.length;
    while (pendingBytes >= partSize) {
      const joined = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
      yield joined.subarray(0, partSize);
      const rest = joined.subarray(partSize);
      pending = rest.length > 0 ? [rest] : [];
      pendingBytes = rest.length;
    }
  }
  if (pendingBytes > 0) yield pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
}
