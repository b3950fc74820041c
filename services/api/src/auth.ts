import { Errors } from '@visionbatch/shared/errors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Routes that carry their own authorisation (signed URLs) or none (health, static pages): set
     * from the route table (`auth` other than `api-key`) when the route is registered (app.ts).
     */
    public?: boolean;
  }
  interface FastifyRequest {
    /** The workspace of the caller's API key. */
    workspace: string;
  }
}

/** The API key of a request: query `api_key` (what Roboflow's client sends) or `Authorization: Bearer`. */
function apiKeyOf(req: FastifyRequest): string | undefined {
  const q = (req.query as Record<string, unknown> | undefined)?.api_key;
  if (typeof q === 'string' && q) return q;
  const h = req.headers.authorization;
  if (h?.startsWith('Bearer ')) return h.slice(7).trim() || undefined;
  return undefined;
}

/**
 * One check for every route, present and future: unless a route is marked `public`, the request
 * needs a known API key (401), and any `:workspace` path parameter must be that key's workspace
 * (403). Registered as an `onRequest` hook on the root instance, so no route can forget it, and
 * it runs before any byte of the body is read or parsed (routing, and so the path parameters,
 * come first): an unauthenticated caller cannot make the api parse JSON or multipart.
 */
export function registerAuth(app: FastifyInstance, keys: ReadonlyMap<string, string>): void {
  app.decorateRequest('workspace', '');
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.public) return;
    const key = apiKeyOf(req);
    const ws = key ? keys.get(key) : undefined;
    if (!ws) throw Errors.unauthorized();
    const pathWs = (req.params as Record<string, string> | undefined)?.workspace;
    if (pathWs !== undefined && pathWs !== ws) throw Errors.forbiddenWorkspace(pathWs);
    req.workspace = ws;
  });
}
