import type { FastifyInstance } from 'fastify';

/** Workspace discovery (spec §1.3): every Roboflow CLI command starts with `GET /?api_key=`. */
export function rootRoutes(app: FastifyInstance): void {
  app.get('/', async (req) => ({
    workspace: req.workspace,
    welcome: 'visionbatch: Roboflow-compatible batch processing',
    docs: 'https://github.com/visionbatch/visionbatch#readme',
  }));
}
