/**
 * A tiny HTTP server standing in for the visionbatch API in CLI tests: routes are plain handlers,
 * every request is recorded (method, path, query, headers, body). Not a test file itself.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface FakeReply {
  status?: number;
  json?: unknown;
  body?: Buffer | string;
  headers?: Record<string, string>;
}

export type Handler = (req: RecordedRequest) => FakeReply | Promise<FakeReply>;

export interface FakeApi {
  url: string;
  requests: RecordedRequest[];
  /** Registers `METHOD /path` (exact path, query ignored). Later registrations win. */
  on(method: string, path: string, handler: Handler): void;
  close(): Promise<void>;
}

export async function startFakeApi(workspace = 'demo'): Promise<FakeApi> {
  const routes = new Map<string, Handler>();
  const requests: RecordedRequest[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const u = new URL(req.url ?? '/', 'http://x');
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: u.pathname,
      query: u.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks),
    };
    requests.push(rec);
    const h = routes.get(`${rec.method} ${rec.path}`);
    let reply: FakeReply;
    try {
      reply = h ? await h(rec) : { status: 404, json: { error: `no route ${rec.method} ${rec.path}` } };
    } catch (e) {
      reply = { status: 500, json: { error: String(e) } };
    }
    const body = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.body ?? '');
    res.writeHead(reply.status ?? 200, {
      ...(reply.json !== undefined ? { 'content-type': 'application/json; charset=utf-8' } : {}),
      ...reply.headers,
    });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  routes.set('GET /', () => ({ json: { workspace } }));
  return {
    url,
    requests,
    on: (method, path, handler) => routes.set(`${method} ${path}`, handler),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
