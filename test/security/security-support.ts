/**
 * The hostile-input suite's harness: the api built as in test/api/app-harness.ts, but listening on
 * a real port (every probe goes over real HTTP, bounded by a client timeout, so a hang is a test
 * failure, not a stuck run), plus probes of what a request left behind in the store.
 */

import { readdir, readlink } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { buildShapesDet, modelConfig } from '@visionbatch/models';
import type { JobRecord } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { expect } from 'vitest';
import { type AppHarness, startApiHarness } from '../api/app-harness.ts';
import { redisTestUrl, s3StoreConfig, useS3Bucket, useTempDir } from '../support/helpers.ts';
import { createPlannedJob, endJobAsLeader, imageJobDefinition } from '../support/job-fixtures.ts';

export type StoreKind = 'fs' | 's3';

export interface ListeningApi extends AppHarness {
  port: number;
  /** root of the fs store (undefined for s3) */
  storeDir?: string;
  /** every log line the api wrote (level trace), to prove no secret is logged */
  logLines: string[];
}

/** The api over real Redis and an fs or S3 store, listening on 127.0.0.1 (caller flushes Redis). */
export async function startListeningApi(
  kind: StoreKind,
  env: Record<string, string> = {},
): Promise<ListeningApi> {
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  const storeDir = kind === 'fs' ? await useTempDir('vb-sec-') : undefined;
  const h = await startApiHarness({
    redisUrl: redisTestUrl(),
    store: storeDir ? { driver: 'fs', dir: storeDir } : s3StoreConfig(useS3Bucket('sec')),
    env,
    logger: createLogger('api-test', 'trace', sink),
  });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (h.app.server.address() as AddressInfo).port;
  return Object.assign(h, { port, storeDir, logLines });
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
  json(): any;
}

/**
 * One HTTP request with the path sent exactly as given (no client-side normalisation of `..` or
 * `%2e`), failing the test when no answer arrives within `timeoutMs`.
 */
export function send(
  api: { port: number },
  opts: {
    method: string;
    path: string;
    headers?: Record<string, string | number>;
    body?: Buffer | string;
    timeoutMs?: number;
  },
): Promise<HttpAnswer> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: api.port,
        method: opts.method,
        path: opts.path,
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(
      () =>
        req.destroy(new Error(`no answer within ${timeoutMs} ms: ${opts.method} ${opts.path.slice(0, 200)}`)),
      timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

/**
 * Writes raw bytes on a fresh connection and returns what the server sent back before it closed
 * the connection (or before `timeoutMs`, which fails). For requests a normal client cannot send:
 * a body shorter than its Content-Length, malformed framing.
 */
export function rawExchange(
  api: { port: number },
  bytes: Buffer | string,
  timeoutMs = 15_000,
): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(api.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server neither answered nor closed within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: split < 0 ? '' : text.slice(split + 4),
      });
    });
    socket.write(bytes);
  });
}

/** Asserts a 4xx answer in the project's error format (`{error, code: VB_ERR_*, ...}`). */
export function expectVbError(
  res: { status: number; text: string; headers?: IncomingHttpHeaders },
  status: number,
  fields: Record<string, unknown> = {},
): void {
  expect(res.status, res.text).toBe(status);
  if (res.headers) expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(res.text);
  expect(body.error, res.text).toBeTypeOf('string');
  expect(body.code, res.text).toMatch(/^VB_ERR_/);
  expect(body).toMatchObject(fields);
}

/** A multipart body from parts; a part with `filename` is a file part. */
export function multipart(
  parts: Array<{ name: string; filename?: string; contentType?: string; data: Buffer | string }>,
  boundary = `----vbsec${Math.random().toString(16).slice(2)}`,
): { body: Buffer; boundary: string; contentType: string } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    const type = p.contentType ? `\r\nContent-Type: ${p.contentType}` : '';
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}${type}\r\n\r\n`));
    chunks.push(Buffer.from(p.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), boundary, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** The shapes-det model and its config: a model the api accepts. */
export function goodModel(): { weights: Buffer; config: unknown } {
  return {
    weights: Buffer.from(buildShapesDet()),
    config: modelConfig('shapes-det'),
  };
}

/** Smallest bytes the sniffer accepts as a JPEG. */
export const jpeg = (size = 1024) =>
  Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(size, 7)]);

/** Files of the fs store whose names mark an unfinished write (`.vb-tmp.*`). */
export async function tempFilesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.startsWith('.vb-tmp.')) out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out;
}

/** Files under `dir` this process holds open (the api runs in-process). */
export async function openFilesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd').catch(() => [])) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir + path.sep)) out.push(target);
  }
  return out;
}

/** Keys of the store under `prefix`. */
export async function keysUnder(api: AppHarness, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of api.store.listAll(prefix)) out.push(o.key);
  return out.sort();
}

/** Nothing unfinished in the store: no temp files and no open handles (fs), no stray keys under `prefix`. */
export async function expectNothingLeft(
  api: ListeningApi,
  prefix: string,
  allowed: string[] = [],
): Promise<void> {
  if (api.storeDir) {
    expect(await tempFilesIn(api.storeDir)).toEqual([]);
    expect(await openFilesIn(api.storeDir)).toEqual([]);
  }
  expect(await keysUnder(api, prefix)).toEqual(allowed);
}

/** A normal request still works after the probe (the api is healthy). */
export async function expectHealthy(api: ListeningApi): Promise<void> {
  const res = await send(api, {
    method: 'GET',
    path: '/data-staging/v1/external/ws-a/batches?api_key=key-a',
  });
  expect(res.status, res.text).toBe(200);
}

/** Creates a job through the real moves: planned and running, or ended as `state`. */
export async function createTestJob(
  api: ListeningApi,
  jobId: string,
  now: number,
  state: 'running' | 'failed' = 'running',
): Promise<void> {
  const rec = await createPlannedJob(api.deps.jobs, api.deps.redis, {
    ws: 'ws-a',
    jobId,
    definition: imageJobDefinition('ws-a', 'b'),
    createdAt: now,
    tasksNumber: 2,
  });
  if (state === 'failed') await endJobAsLeader(api.deps.jobs, rec, 'failed');
}
