import { type ApiClient, seg } from './api-client.ts';
import { CliError } from './cli-error.ts';

/** The workspace's webhook secret as the api shows it (`GET /visionbatch/v1/{ws}/webhook-secret`). */
export interface WebhookSecret {
  workspace: string;
  /** the `Authorization` header every webhook of the workspace carries */
  authorization: string;
  source: 'generated' | 'VB_PUBLISHABLE_KEYS';
}

/** `webhooks secret`: the `Authorization` value to expect on the workspace's webhooks. */
export async function webhookSecret(client: ApiClient): Promise<WebhookSecret> {
  const body = await client.get<Partial<WebhookSecret>>(
    `/visionbatch/v1/${seg(await client.workspace())}/webhook-secret`,
  );
  if (!body || typeof body.authorization !== 'string' || !body.authorization)
    throw new CliError('could not decode the API response: no "authorization" in the webhook secret');
  return body as WebhookSecret;
}
