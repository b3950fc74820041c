import { WorkspaceWebhookSecrets } from '@visionbatch/shared/webhook-auth';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';

/**
 * The workspace's webhook secret: the `Authorization` value every webhook of the workspace
 * carries (job, files-status, ingest-status), so that its receivers can check the sender. Shown
 * only to the workspace's own API key (the auth hook's `:workspace` rule); created on first use
 * by whichever process asks first, the api here or the scheduler sending a webhook.
 */
export function webhookSecretRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const secrets = new WorkspaceWebhookSecrets(deps.redis, deps.config.scheduler.publishableKeys);
  app.get<{ Params: { workspace: string } }>(
    '/visionbatch/v1/:workspace/webhook-secret',
    async (req, reply) => {
      const { authorization, source } = await secrets.secretOf(req.params.workspace);
      reply.header('cache-control', 'no-store');
      return { workspace: req.params.workspace, authorization, source };
    },
  );
}
