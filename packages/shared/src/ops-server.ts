import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/**
 * The small HTTP server of processes that have no API of their own (scheduler, worker):
 * `/healthz` (alive), `/readyz` (dependencies answer) and `/metrics` (Prometheus).
 */
export async function startOpsServer(
  host: string,
  port: number,
  metrics: Registry,
  ready: () => Promise<boolean>,
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    try {
      if (path === '/healthz') return json(200, { status: 'ok' });
      if (path === '/readyz')
        return (await ready()) ? json(200, { status: 'ready' }) : json(503, { status: 'not-ready' });
      if (path === '/metrics') {
        const text = await metrics.metrics();
        res.writeHead(200, { 'content-type': metrics.contentType });
        return res.end(text);
      }
      json(404, { error: `no route ${req.method} ${path}` });
    } catch (err) {
      json(500, { error: (err as Error).message });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
