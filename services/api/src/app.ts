import fastifyMultipart from '@fastify/multipart';
import { routeSpecOf } from '@visionbatch/shared/wire/routes';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { Histogram } from 'prom-client';
import { registerAuth } from './auth.ts';
import { registerBodyParsers } from './body-parsers.ts';
import type { ApiDeps } from './deps.ts';
import { httpErrorOptions, registerErrorHandler } from './error-handler.ts';
import { apiDocsRoutes } from './routes/api-docs.ts';
import { batchProcessingRoutes } from './routes/batch-processing.ts';
import { consoleRoutes } from './routes/console.ts';
import { dataStagingRoutes } from './routes/data-staging.ts';
import { healthRoutes } from './routes/health.ts';
import { jobEstimateRoutes } from './routes/job-estimate.ts';
import { jobEventRoutes } from './routes/job-events.ts';
import { machinesRoutes } from './routes/machines.ts';
import { registryRoutes } from './routes/registry.ts';
import { rootRoutes } from './routes/root.ts';
import { signedRoutes } from './routes/signed.ts';
import { webhookSecretRoutes } from './routes/webhook-secret.ts';

/** A route as registered (for the auth coverage test). */
export interface RegisteredRoute {
  method: string;
  url: string;
  public: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    vbRoutes: RegisteredRoute[];
  }
}

/**
 * Normalises the request path before routing: strips the mount prefix and collapses repeated
 * slashes (a base URL ending in `/` makes the Roboflow client send `//data-staging/...`, §1.1).
 */
export function rewritePath(url: string, mountPrefix: string): string {
  const q = url.indexOf('?');
  let p = q < 0 ? url : url.slice(0, q);
  const rest = q < 0 ? '' : url.slice(q);
  p = p.replace(/\/{2,}/g, '/');
  if (mountPrefix && (p === mountPrefix || p.startsWith(`${mountPrefix}/`)))
    p = p.slice(mountPrefix.length) || '/';
  return p + rest;
}

/** Builds the api's HTTP server from its dependencies (no I/O until it listens). */
export async function buildApp(
  deps: ApiDeps,
  validateWorkflow: (ws: string, def: Record<string, unknown>) => Promise<void>,
): Promise<FastifyInstance> {
  const { requestTimeoutMs, idleTimeoutMs } = deps.config.api;
  const app = Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    // Requests are measured by the histogram below; per-request log lines would drown the logs.
    logController: new LogController({ disableRequestLogging: true }),
    rewriteUrl: (req) => rewritePath(req.url ?? '/', deps.config.api.mountPrefix),
    bodyLimit: 1024 * 1024,
    // Any JSON body is small; uploads stream through multipart or signed URLs.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
    // Slow or stalled bodies cannot hold a connection (and an upload's temp file) forever.
    requestTimeout: requestTimeoutMs,
    connectionTimeout: idleTimeoutMs,
    http: {
      headersTimeout: Math.min(60_000, requestTimeoutMs),
      // Node checks the timeouts above on this interval (30 s by default).
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeoutMs / 4))),
    },
    ...httpErrorOptions(requestTimeoutMs),
  });
  const httpDuration = new Histogram({
    name: 'vb_http_request_duration_seconds',
    help: 'HTTP request latency of the api by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [deps.metrics],
  });
  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  // Every route must be declared in the route table (which /openapi.json is made from), and takes
  // from it whether it needs an API key; kept as registered so tests can prove the auth rule.
  const routes: RegisteredRoute[] = [];
  app.decorate('vbRoutes', routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) {
      const spec = routeSpecOf(method, r.url);
      if (!spec) throw new Error(`${method} ${r.url} is not declared in packages/shared/src/wire/routes.ts`);
      const isPublic = spec.auth !== 'api-key';
      r.config = { ...r.config, public: isPublic };
      routes.push({ method, url: r.url, public: isPublic });
    }
  });
  await app.register(fastifyMultipart, { limits: { fileSize: deps.config.limits.maxImageBytes, files: 1 } });
  registerErrorHandler(app);
  registerBodyParsers(app);
  registerAuth(app, deps.config.api.keys);
  healthRoutes(app, deps);
  rootRoutes(app);
  dataStagingRoutes(app, deps);
  batchProcessingRoutes(app, deps);
  jobEventRoutes(app, deps);
  jobEstimateRoutes(app, deps);
  registryRoutes(app, deps, validateWorkflow);
  signedRoutes(app, deps);
  webhookSecretRoutes(app, deps);
  machinesRoutes(app, deps);
  apiDocsRoutes(app, deps);
  consoleRoutes(app, deps);
  return app;
}
