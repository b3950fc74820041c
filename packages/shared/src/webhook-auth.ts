import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from './redis-keys.ts';

/** The `Authorization` value a workspace's webhooks carry (spec §4.1: the publishable key). */
export interface WebhookAuth {
  authorizationFor(workspace: string): Promise<string>;
}

/** A workspace's webhook secret and where it comes from, as shown to the workspace. */
export interface WebhookSecret {
  authorization: string;
  /** `generated`: random, created on first use; `VB_PUBLISHABLE_KEYS`: set by the operator */
  source: 'generated' | 'VB_PUBLISHABLE_KEYS';
}

/**
 * Webhook secrets per workspace: the operator's `VB_PUBLISHABLE_KEYS` entry when there is one, else
 * a random secret created once per workspace in Redis (`SET NX`: when two processes race, the
 * first write wins and both read it back), so it is stable across restarts and unguessable, and
 * every webhook of the workspace (job, files-status, ingest-status) carries the same value.
 */
export class WorkspaceWebhookSecrets implements WebhookAuth {
  constructor(
    private readonly redis: Redis,
    /** workspace → publishable key (VB_PUBLISHABLE_KEYS) */
    private readonly overrides: ReadonlyMap<string, string>,
  ) {}

  async authorizationFor(workspace: string): Promise<string> {
    return (await this.secretOf(workspace)).authorization;
  }

  async secretOf(workspace: string): Promise<WebhookSecret> {
    const configured = this.overrides.get(workspace);
    if (configured) return { authorization: configured, source: 'VB_PUBLISHABLE_KEYS' };
    const key = keys.webhookSecret(workspace);
    const fresh = `vbwh_${randomBytes(32).toString('base64url')}`;
    if ((await this.redis.set(key, fresh, 'NX')) === 'OK')
      return { authorization: fresh, source: 'generated' };
    const stored = await this.redis.get(key);
    if (!stored) throw new Error(`the webhook secret of workspace ${workspace} vanished while being read`);
    return { authorization: stored, source: 'generated' };
  }
}
