import dns from 'node:dns/promises';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { withDeadline } from '@visionbatch/shared/deadline';

/**
 * A URL refused by policy (reported as `unsafe-url-detected`, spec §2.11 / §4.2). Its message names
 * the URL without query, fragment or credentials: a presigned URL's query is its signature, and
 * messages end up in failure reasons, webhooks and logs.
 */
export class UnsafeUrlError extends Error {
  constructor(
    readonly url: string,
    why: string,
  ) {
    super(`unsafe URL ${withoutSecrets(url)}: ${why}`);
    this.name = 'UnsafeUrlError';
  }
}

/** A URL as it may be shown: scheme, host and path only. */
function withoutSecrets(raw: string): string {
  const u = URL.parse(raw);
  return u ? `${u.protocol}//${u.host}${u.pathname}` : 'an invalid URL';
}

/** A download that failed for a reason other than policy (network, status, size). */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly tooLarge = false,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

// Addresses no reference URL may reach: unspecified, loopback, private, shared (CGNAT), link-local
// (cloud metadata 169.254.169.254 included), benchmarking, multicast, reserved, and their IPv6
// counterparts (unique-local fc00::/7 covers fd00:ec2::254, AWS's IPv6 metadata address).
const BLOCKED = new net.BlockList();
for (const [net4, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(net4, bits, 'ipv4');
}
for (const [net6, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
  ['100::', 64],
  ['2001:db8::', 32],
] as const) {
  BLOCKED.addSubnet(net6, bits, 'ipv6');
}

/** The IPv4 address embedded in an IPv4-mapped, NAT64 or 6to4 IPv6 address, if any. */
function embeddedV4(ip6: string): string | null {
  const m = /^(?:::ffff:(?:0+:)?|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(ip6);
  if (m) return m[1];
  const groups = expandV6(ip6);
  if (!groups) return null;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  // ::ffff:a.b.c.d written in hex, and 64:ff9b::/96
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return v4(groups[6], groups[7]);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0))
    return v4(groups[6], groups[7]);
  // 6to4 2002:AABB:CCDD::/48
  if (groups[0] === 0x2002) return v4(groups[1], groups[2]);
  return null;
}

function expandV6(ip: string): number[] | null {
  if (!net.isIPv6(ip)) return null;
  let s = ip.split('%')[0];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const p = dotted[1].split('.').map(Number);
    s = s.replace(dotted[1], `${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`);
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === null ? [] : Array(8 - h.length - t.length).fill('0');
  const all = [...h, ...fill, ...t].map((g) => Number.parseInt(g || '0', 16));
  return all.length === 8 ? all : null;
}

/** True when an address is in a refused range (v4, v6, or v4 embedded in v6). */
export function isBlockedAddress(ip: string): boolean {
  const family = net.isIP(ip);
  if (family === 4) return BLOCKED.check(ip, 'ipv4');
  if (family === 6) {
    const v4 = embeddedV4(ip);
    if (v4 && BLOCKED.check(v4, 'ipv4')) return true;
    return BLOCKED.check(ip, 'ipv6');
  }
  return true;
}

/**
 * Operator allowlist (`VB_URL_ALLOWLIST`): comma-separated CIDRs (`10.1.0.0/16`, `::1/128`), plain
 * IPs, host names (`minio.internal`) or host suffixes (`*.corp.example`). An allowlisted host or
 * address is reachable even when it is private.
 */
export class UrlAllowlist {
  private readonly cidrs = new net.BlockList();
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const e = raw.trim().toLowerCase();
      if (!e) continue;
      const [addr, bits] = e.split('/');
      const fam = net.isIP(addr);
      if (fam)
        this.cidrs.addSubnet(
          addr,
          bits === undefined ? (fam === 4 ? 32 : 128) : Number(bits),
          fam === 4 ? 'ipv4' : 'ipv6',
        );
      else if (e.startsWith('*.')) this.suffixes.push(e.slice(1));
      else this.hosts.add(e);
    }
  }

  static parse(value: string | undefined): UrlAllowlist {
    return new UrlAllowlist((value ?? '').split(','));
  }

  allowsHost(host: string): boolean {
    const h = host.toLowerCase();
    return this.hosts.has(h) || this.suffixes.some((s) => h.endsWith(s));
  }

  allowsAddress(ip: string): boolean {
    const fam = net.isIP(ip);
    return fam !== 0 && this.cidrs.check(ip, fam === 4 ? 'ipv4' : 'ipv6');
  }
}

export interface CheckedUrl {
  url: URL;
  /** The address the connection must use (resolved once, checked). */
  address: string;
  family: 4 | 6;
}

export type Resolver = (host: string) => Promise<Array<{ address: string; family: number }>>;
const systemResolver: Resolver = (host) => dns.lookup(host, { all: true, verbatim: true });

/** Default total deadline of a DNS lookup (VB_DNS_TIMEOUT_MS). */
export const DEFAULT_DNS_TIMEOUT_MS = 5000;

/**
 * Checks a URL against the policy: http(s) only, no credentials, the host resolved once (within
 * `dnsTimeoutMs`: getaddrinfo has no timeout of its own) and every resolved address outside the
 * refused ranges (unless allowlisted). Returns the address to pin.
 */
export async function checkUrl(
  raw: string,
  allow: UrlAllowlist,
  resolve: Resolver = systemResolver,
  dnsTimeoutMs = DEFAULT_DNS_TIMEOUT_MS,
): Promise<CheckedUrl> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsafeUrlError(raw, 'not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UnsafeUrlError(raw, `scheme ${url.protocol} is not allowed (http and https only)`);
  if (url.username || url.password) throw new UnsafeUrlError(raw, 'credentials in URLs are not allowed');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new UnsafeUrlError(raw, 'no host');
  const hostAllowed = allow.allowsHost(host);
  let addrs: Array<{ address: string; family: number }>;
  if (net.isIP(host)) addrs = [{ address: host, family: net.isIP(host) }];
  else {
    try {
      addrs = await withDeadline(`resolving ${host}`, dnsTimeoutMs, () => resolve(host));
    } catch (err) {
      throw new DownloadError(`cannot resolve ${host}: ${(err as Error).message}`, true);
    }
    if (addrs.length === 0) throw new DownloadError(`cannot resolve ${host}`, true);
  }
  if (!hostAllowed) {
    for (const a of addrs) {
      if (isBlockedAddress(a.address) && !allow.allowsAddress(a.address)) {
        throw new UnsafeUrlError(
          raw,
          `${host} resolves to ${a.address}, a private, loopback, link-local or reserved address`,
        );
      }
    }
  }
  return { url, address: addrs[0].address, family: addrs[0].family === 6 ? 6 : 4 };
}

/** The guard's policy and deadlines, shared by downloads and webhooks. */
export interface GuardOptions {
  allow: UrlAllowlist;
  resolve?: Resolver;
  /** total deadline of each DNS lookup */
  dnsTimeoutMs?: number;
}

export interface FetchOptions extends GuardOptions {
  maxBytes: number;
  /** TOTAL deadline of the download, redirects and DNS included (default 10 minutes) */
  deadlineMs?: number;
  maxRedirects?: number;
}

/** One request to a checked URL with the connection pinned to the checked address; `signal` aborts it. */
function requestPinned(
  c: CheckedUrl,
  signal: AbortSignal,
  method: 'GET' | 'POST' = 'GET',
  headers: Record<string, string> = { 'user-agent': 'visionbatch-ingest', accept: '*/*' },
  body?: Buffer,
): Promise<http.IncomingMessage> {
  const mod = c.url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      c.url,
      {
        method,
        agent: false,
        signal,
        // The only lookup this connection makes answers the address that was checked.
        lookup: ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
          if (opts?.all) cb(null, [{ address: c.address, family: c.family }]);
          else cb(null, c.address, c.family);
        }) as unknown as net.LookupFunction,
        headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
      },
      resolve,
    );
    req.on('error', (err) =>
      reject(err instanceof DownloadError ? err : new DownloadError(err.message, true)),
    );
    req.end(body);
  });
}

/**
 * POSTs a JSON body to a URL under the SSRF policy (webhooks): the host is resolved once and
 * checked, the connection pinned to that address, and redirects are not followed. The whole
 * attempt (DNS, connect, request, response headers) ends within `deadlineMs`; only the status is
 * read, the response body is discarded. Resolves the status code; throws UnsafeUrlError (refused
 * by policy), DownloadError (network) or DeadlineExceededError.
 */
export async function guardedPost(
  raw: string,
  body: unknown,
  headers: Record<string, string>,
  o: GuardOptions & { deadlineMs?: number },
): Promise<number> {
  return withDeadline(`webhook delivery to ${hostOf(raw)}`, o.deadlineMs ?? 10_000, async (signal) => {
    const checked = await checkUrl(raw, o.allow, o.resolve, o.dnsTimeoutMs);
    const res = await requestPinned(
      checked,
      signal,
      'POST',
      { 'user-agent': 'visionbatch-webhook', 'content-type': 'application/json', ...headers },
      Buffer.from(JSON.stringify(body)),
    );
    // The status is the answer; a body trickling forever must not keep the connection open.
    res.destroy();
    return res.statusCode ?? 0;
  });
}

/**
 * Opens a download under the SSRF policy, following redirects (every target checked again), and
 * returns the 2xx response once its declared length is within `maxBytes`. Throws UnsafeUrlError
 * or DownloadError.
 */
async function openGuarded(raw: string, o: FetchOptions, signal: AbortSignal): Promise<http.IncomingMessage> {
  let current = raw;
  for (let hop = 0; hop <= (o.maxRedirects ?? 5); hop++) {
    const checked = await checkUrl(current, o.allow, o.resolve, o.dnsTimeoutMs);
    const res = await requestPinned(checked, signal);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.destroy();
      current = new URL(res.headers.location, checked.url).href;
      continue;
    }
    if (status < 200 || status >= 300) {
      res.destroy();
      throw new DownloadError(
        `${checked.url.host} answered ${status}`,
        status >= 500 || status === 408 || status === 429,
      );
    }
    const declared = Number(res.headers['content-length'] ?? Number.NaN);
    if (declared > o.maxBytes) {
      res.destroy();
      throw new DownloadError(`larger than ${o.maxBytes} bytes`, false, true);
    }
    return res;
  }
  throw new DownloadError('too many redirects', false);
}

const hostOf = (raw: string) => URL.parse(raw)?.host ?? 'an invalid URL';
const DEFAULT_DOWNLOAD_DEADLINE_MS = 600_000;

/**
 * Downloads a URL into memory (at most `maxBytes`; images and references files) under the SSRF
 * policy, within the total deadline. Throws UnsafeUrlError, DownloadError or DeadlineExceededError.
 */
export async function guardedFetch(raw: string, o: FetchOptions): Promise<Buffer> {
  const ms = o.deadlineMs ?? DEFAULT_DOWNLOAD_DEADLINE_MS;
  return withDeadline(`download from ${hostOf(raw)}`, ms, async (signal) => {
    const res = await openGuarded(raw, o, signal);
    const chunks: Buffer[] = [];
    await drain(res, o.maxBytes, (c) => chunks.push(c));
    return Buffer.concat(chunks);
  });
}

/**
 * Downloads a URL into a local file (at most `maxBytes`; videos), streaming with bounded memory,
 * under the SSRF policy and within the total deadline. Resolves the byte count. Throws
 * UnsafeUrlError, DownloadError or DeadlineExceededError; a partial file is left to the caller.
 */
export async function guardedFetchToFile(raw: string, file: string, o: FetchOptions): Promise<number> {
  const ms = o.deadlineMs ?? DEFAULT_DOWNLOAD_DEADLINE_MS;
  return withDeadline(`download from ${hostOf(raw)}`, ms, async (signal) => {
    const res = await openGuarded(raw, o, signal);
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > o.maxBytes) cb(new DownloadError(`larger than ${o.maxBytes} bytes`, false, true));
        else cb(null, chunk);
      },
    });
    try {
      await pipeline(res, limit, createWriteStream(file), { signal });
    } catch (err) {
      if (err instanceof DownloadError || signal.aborted) throw err;
      throw new DownloadError(`download interrupted: ${(err as Error).message}`, true);
    }
    return size;
  });
}

/** Reads a response to its end through `sink`, failing past `max` bytes. */
async function drain(stream: Readable, max: number, sink: (chunk: Buffer) => void): Promise<void> {
  let size = 0;
  try {
    for await (const c of stream) {
      size += (c as Buffer).length;
      if (size > max) {
        stream.destroy();
        throw new DownloadError(`larger than ${max} bytes`, false, true);
      }
      sink(c as Buffer);
    }
  } catch (err) {
    if (err instanceof DownloadError) throw err;
    throw new DownloadError(`download interrupted: ${(err as Error).message}`, true);
  }
}
