import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConnectionConfig } from './config.ts';

/**
 * ioredis options for a {@link RedisConnectionConfig}: host, port, database, user and password
 * from the URL, the password that replaces the URL's, TLS for `rediss://` (with a private CA when
 * one is configured), and Sentinels, which take the place of the URL's host. Built as one options
 * object because ioredis lets a URL's password win over an explicit one.
 */
export function redisOptions(conn: RedisConnectionConfig): RedisOptions {
  const url = new URL(conn.url);
  const tls =
    url.protocol === 'rediss:' ? (conn.tlsCaFile ? { ca: readFileSync(conn.tlsCaFile) } : {}) : null;
  const password = conn.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const opts: RedisOptions = {
    db: Number(url.pathname.slice(1) || 0),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(tls ? { tls } : {}),
  };
  if (conn.sentinels.length === 0)
    return { ...opts, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) };
  return {
    ...opts,
    sentinels: conn.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: conn.sentinelMaster,
    ...(conn.sentinelPassword !== null ? { sentinelPassword: conn.sentinelPassword } : {}),
    // rediss:// means TLS to the master and to the Sentinels alike.
    ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
  };
}

/** A connection to `url` alone (no password override, no private CA, no Sentinels). */
export function redisConnection(url: string): RedisConnectionConfig {
  return {
    url,
    password: null,
    tlsCaFile: null,
    sentinels: [],
    sentinelMaster: 'mymaster',
    sentinelPassword: null,
  };
}

/**
 * A Redis connection for state and queues. `maxRetriesPerRequest: null` is what BullMQ requires
 * for blocking connections; we use it everywhere so a Redis restart stalls calls instead of failing them.
 * BullMQ's own blocking connections are `duplicate()`s of it, so they inherit password, TLS and Sentinels.
 * A bare URL (tests, tools) is a connection with nothing but that URL.
 */
export function createRedis(conn: RedisConnectionConfig | string, opts: RedisOptions = {}): Redis {
  const c = typeof conn === 'string' ? redisConnection(conn) : conn;
  return new Redis({
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: false,
    ...redisOptions(c),
    ...opts,
  });
}

/** `url` with its password masked, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid Redis URL)';
  }
}

/**
 * Options for a connection that must fail fast while Redis is unreachable (the api): a command is
 * refused at once instead of queued for a reconnect (BullMQ's advice for producers), and one that
 * gets no answer fails after `commandTimeoutMs`, so a request never hangs on Redis.
 */
export function failFastOptions(commandTimeoutMs: number): RedisOptions {
  return { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: commandTimeoutMs };
}

/**
 * Whether an error means Redis cannot be reached or answer right now (disconnected, timed out,
 * loading its data, failing over), as opposed to a bad command: such a failure is a 503 to retry.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  return /Stream isn't writeable|Command timed out|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|^LOADING|^MASTERDOWN|^READONLY|^TRYAGAIN/.test(
    err.message,
  );
}
