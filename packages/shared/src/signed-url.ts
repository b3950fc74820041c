import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Upload and download URLs minted and verified by the api (ARCHITECTURE "Decisions"): an HMAC
 * over the method, workspace, batch, part, object name, purpose and expiry. Nothing else in the
 * URL is trusted, so a URL cannot be bent to another object, another method or a later time.
 */
export interface SignedGrant {
  method: 'GET' | 'PUT';
  workspace: string;
  batchId: string;
  /** '' when the batch has no parts */
  part: string;
  name: string;
  /** what the PUT is for (`video`, `shard`, `image`) or `file` for downloads */
  purpose: string;
  /** expiry, ms since epoch */
  expiresAt: number;
}

export const SIGNED_PATH_PREFIX = '/signed/v1';

function mac(secret: string, g: SignedGrant): Buffer {
  const text = [
    g.method,
    g.workspace,
    g.batchId,
    g.part,
    g.name,
    g.purpose,
    String(Math.floor(g.expiresAt / 1000)),
  ].join('\n');
  return createHmac('sha256', secret).update(text).digest();
}

/** The path (under the mount prefix) and query of a signed URL. */
export function signedPath(secret: string, g: SignedGrant): string {
  const seg = [g.workspace, g.batchId, g.part || '_', g.name].map(encodeURIComponent).join('/');
  const q = new URLSearchParams({
    m: g.method,
    p: g.purpose,
    e: String(Math.floor(g.expiresAt / 1000)),
    s: mac(secret, g).toString('base64url'),
  });
  return `${SIGNED_PATH_PREFIX}/${seg}?${q.toString()}`;
}

export type VerifyResult = { ok: true; grant: SignedGrant } | { ok: false; reason: string };

/**
 * Checks a signed request. `segments` are the four decoded path segments after the prefix,
 * `query` the request's query, `method` the HTTP method used.
 */
export function verifySigned(
  secret: string,
  method: string,
  segments: { workspace: string; batchId: string; part: string; name: string },
  query: Record<string, unknown>,
  now: number,
): VerifyResult {
  const m = query.m;
  const p = query.p;
  const e = query.e;
  const s = query.s;
  if (typeof m !== 'string' || typeof p !== 'string' || typeof e !== 'string' || typeof s !== 'string') {
    return { ok: false, reason: 'missing signature parameters' };
  }
  if (m !== 'GET' && m !== 'PUT') return { ok: false, reason: 'bad method parameter' };
  // HEAD is a GET without a body; anything else must be the signed method.
  const used = method === 'HEAD' ? 'GET' : method;
  if (used !== m) return { ok: false, reason: `URL is signed for ${m}, not ${method}` };
  if (!/^\d{1,12}$/.test(e)) return { ok: false, reason: 'bad expiry' };
  const grant: SignedGrant = {
    method: m,
    workspace: segments.workspace,
    batchId: segments.batchId,
    part: segments.part === '_' ? '' : segments.part,
    name: segments.name,
    purpose: p,
    expiresAt: Number(e) * 1000,
  };
  const expected = mac(secret, grant);
  const given = Buffer.from(s, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'bad signature' };
  if (grant.expiresAt < now) return { ok: false, reason: 'URL expired' };
  return { ok: true, grant };
}
