import { Readable } from 'node:stream';
import { Errors, VbError } from '@visionbatch/shared/errors';
import { isSafeFileName } from '@visionbatch/shared/ids';
import { objectKeys } from '@visionbatch/shared/object-keys';
import { ObjectNotFoundError } from '@visionbatch/shared/object-store/index';
import { SIGNED_PATH_PREFIX, type SignedGrant, verifySigned } from '@visionbatch/shared/signed-url';
import { iso } from '@visionbatch/shared/time';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../deps.ts';

type SignedParams = { workspace: string; batchId: string; part: string; name: string };

/**
 * The bytes of an upload's request body, failing past `limit` bytes (413) and when the client
 * cuts the body off (400). A generator rather than `pipe()`, so that an aborted request fails the
 * store's put (which then removes its temp file) instead of leaving it waiting forever.
 */
async function* uploadBody(body: AsyncIterable<Buffer>, limit: number): AsyncGenerator<Buffer> {
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += chunk.length;
      if (bytes > limit) throw Errors.payloadTooLarge('upload', limit);
      yield chunk;
    }
  } catch (err) {
    if (err instanceof VbError) throw err;
    throw Errors.badRequest('the upload ended before its body was complete');
  }
}

function grantOf(deps: ApiDeps, req: FastifyRequest<{ Params: SignedParams }>): SignedGrant {
  const p = req.params;
  const r = verifySigned(
    deps.urlSecret,
    req.method,
    p,
    req.query as Record<string, unknown>,
    deps.clock.now(),
  );
  if (!r.ok) throw Errors.badSignature(r.reason);
  if (!isSafeFileName(r.grant.name)) throw Errors.badSignature('bad object name');
  return r.grant;
}

/**
 * Signed upload and download URLs (ARCHITECTURE "Decisions"): self-authorising, no api_key,
 * bytes streamed between the client and the object store without buffering whole files.
 */
export function signedRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.register(async (scope) => {
    // Raw bytes of any (or no) content type: the body is read from the request stream.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));

    const route = `${SIGNED_PATH_PREFIX}/:workspace/:batchId/:part/:name`;

    scope.put<{ Params: SignedParams }>(route, async (req) => {
      const g = grantOf(deps, req);
      const body = () => Readable.from(uploadBody(req.raw, deps.config.api.maxUploadBytes));
      if (g.purpose === 'video') {
        const key = objectKeys.batchFile(g.workspace, g.batchId, g.part, g.name);
        const info = await deps.store.put(key, body(), {
          contentType: 'application/octet-stream',
        });
        await deps.batches.putFile(g.workspace, g.batchId, g.part, g.name, {
          contentType: 'videos',
          size: info.size,
        });
        return { status: 'ok', size: info.size };
      }
      if (g.purpose === 'shard') {
        const shardId = g.name.replace(/\.tar$/, '');
        const shard = await deps.batches.getShard(g.workspace, g.batchId, shardId);
        if (!shard) throw Errors.notFound('shard', shardId);
        if (shard.statusName !== 'shard-registered')
          throw Errors.conflict(`shard ${shardId} was already uploaded`);
        const info = await deps.store.put(objectKeys.shardTar(g.workspace, g.batchId, shardId), body(), {
          contentType: 'application/x-tar',
        });
        await deps.batches.putShard(g.workspace, g.batchId, {
          ...shard,
          statusName: 'shard-uploaded',
          eventTimestamp: iso(deps.clock.now()),
          statusMetadata: { tarBytes: info.size },
        });
        await deps.enqueueShard(g.workspace, g.batchId, shardId);
        return { status: 'ok', size: info.size };
      }
      throw Errors.badSignature(`unknown upload purpose "${g.purpose}"`);
    });

    const download = async (
      req: FastifyRequest<{ Params: SignedParams }>,
      reply: import('fastify').FastifyReply,
    ) => {
      const g = grantOf(deps, req);
      if (g.purpose !== 'file') throw Errors.badSignature('not a download URL');
      const key = objectKeys.batchFile(g.workspace, g.batchId, g.part, g.name);
      try {
        const info = await deps.store.stat(key);
        reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', String(info.size))
          .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(g.name)}`);
        if (req.method === 'HEAD') return reply.send();
        return reply.send(await deps.store.get(key));
      } catch (err) {
        if (err instanceof ObjectNotFoundError) throw Errors.notFound('file', g.name);
        throw err;
      }
    };
    scope.get<{ Params: SignedParams }>(route, { exposeHeadRoute: true }, download);
  });
}
