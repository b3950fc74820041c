import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** A file served from memory: bytes, media type and whether its name carries its content hash. */
export interface Asset {
  body: Buffer;
  type: string;
  /** a content-hashed name never changes content: browsers may keep it for a year */
  immutable: boolean;
}

/**
 * The Content-Security-Policy of the console and the docs: scripts, styles, images and API calls
 * from this origin only (no CDN, nothing inline but styles, which swagger-ui sets on elements);
 * images may also be blobs (thumbnails fetched by the console).
 */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

const etagOf = (body: Buffer) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
const etags = new WeakMap<Buffer, string>();

/**
 * Sends an asset with caching headers: hashed names are `immutable` for a year, others must be
 * revalidated (`no-cache`) and answer 304 to a matching `If-None-Match`. Every page gets the CSP
 * and `nosniff`.
 */
export function sendAsset(req: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  let etag = etags.get(asset.body);
  if (!etag) {
    etag = etagOf(asset.body);
    etags.set(asset.body, etag);
  }
  reply
    .header('content-type', asset.type)
    .header('etag', etag)
    .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', PAGE_CSP)
    .header('referrer-policy', 'no-referrer');
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.send(asset.body);
}
