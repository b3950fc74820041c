import { type SignedGrant, signedPath } from '@visionbatch/shared/signed-url';
import type { ApiDeps } from './deps.ts';

/** Mints absolute signed URLs under the api's public base URL and mount prefix. */
export function mintUrl(deps: ApiDeps, grant: Omit<SignedGrant, 'expiresAt'>): string {
  const ttl = grant.method === 'PUT' ? deps.config.api.uploadUrlTtlMs : deps.config.api.downloadUrlTtlMs;
  const path = signedPath(deps.urlSecret, { ...grant, expiresAt: deps.clock.now() + ttl });
  return `${deps.config.api.publicUrl}${deps.config.api.mountPrefix}${path}`;
}
