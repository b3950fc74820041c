import { Transform } from 'node:stream';
import { Errors } from '@visionbatch/shared/errors';
import { isSafeFileName } from '@visionbatch/shared/ids';
import { objectKeys } from '@visionbatch/shared/object-keys';
import { ObjectNotFoundError } from '@visionbatch/shared/object-store/index';
import { SIGNED_PATH_PREFIX, type SignedGrant, verifySigned } from '@visionbatch/shared/signed-url';
import { iso } from '@visionbatch/shared/time';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../deps.ts';

type SignedParams = { workspace: string; batchId: string; part: string; name: string };

/** Counts bytes through a stream and fails it past `limit`, so an upload can never exceed it. */
function byteLimit(limit: number): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      t.bytes += chunk.length;
      if (t.bytes > limit) cb(Errors.payloadTooLarge('upload', limit));
      else cb(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
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

    scope.put<{ Params: SignedParams }>(route, { config: { public: true } }, async (req) => {
      const g = grantOf(deps, req);
      const limit = byteLimit(deps.config.api.maxUploadBytes);
      if (g.purpose === 'video') {
        const key = objectKeys.batchFile(g.workspace, g.batchId, g.part, g.name);
        const info = await deps.store.put(key, req.raw.pipe(limit), {
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
        const info = await deps.store.put(
          objectKeys.shardTar(g.workspace, g.batchId, shardId),
          req.raw.pipe(limit),
          { contentType: 'application/x-tar' },
        );
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
    scope.get<{ Params: SignedParams }>(route, { config: { public: true }, exposeHeadRoute: true }, download);
  });
}
