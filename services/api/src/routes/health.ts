import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';

/** Liveness and readiness (Redis answers); Prometheus metrics are on the ops port (main.ts). */
export function healthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await deps.redis.ping();
      return { status: 'ready' };
    } catch {
      reply.code(503);
      return { status: 'not-ready', error: 'redis unavailable' };
    }
  });
}
