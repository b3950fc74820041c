import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import type { BatchRecord } from '@visionbatch/shared/batches-repo';
import { Errors } from '@visionbatch/shared/errors';
import { assertBatchId, assertFileName, assertPartName } from '@visionbatch/shared/ids';
import { objectKeys } from '@visionbatch/shared/object-keys';
import {
  type FileReference,
  QUEUE_PREFIX,
  REFERENCE_INGEST_QUEUE,
  REFERENCE_SHARD_SIZE,
  type ReferenceIngestJob,
  referenceShardId,
} from '@visionbatch/shared/queues';
import { iso } from '@visionbatch/shared/time';
import {
  type BatchMetadata,
  type FileMetadata,
  IMAGE_EXTENSIONS,
  type ShardDetails,
} from '@visionbatch/shared/wire/data-staging';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { fileNamePageToken, offsetPageToken, optString, pageSizeOf } from '../http-params.ts';
import { firstFilePart, safeMediaType, storeFilePart } from '../multipart.ts';
import { mintUrl } from '../urls.ts';

type Params = { workspace: string; batchId: string };

/** Shard registrations that never got their tar are hidden after this long (spec §2.10). */
const SHARD_ORPHAN_MS = 24 * 3600 * 1000;
/** References per reference-ingest request (spec §2.11: the client sends ≤ 20 000). */
const MAX_INLINE_REFERENCES = 20_000;
/** 20 000 references with long presigned URLs fit (the default body limit is 1 MiB). */
const REFERENCES_BODY_LIMIT = 64 * 1024 * 1024;

export function batchMetadata(b: BatchRecord): BatchMetadata {
  return {
    batchId: b.batchId,
    displayName: b.displayName,
    batchType: b.batchType,
    batchContentType: b.contentType,
    createdDate: iso(b.createdAt),
    expiryDate: iso(b.expiresAt),
  };
}

/** Which part a request addresses: multipart batches need a known `partName`, others take none. */
async function resolvePart(
  deps: ApiDeps,
  b: BatchRecord,
  partName: string | undefined,
  required: boolean,
): Promise<string[]> {
  if (partName !== undefined) assertPartName(partName);
  if (b.batchType !== 'multipart-batch') {
    if (partName)
      throw Errors.validation('partName', `batch "${b.batchId}" is a ${b.batchType} and has no parts`);
    return [''];
  }
  const parts = (await deps.batches.parts(b.workspace, b.batchId)).map((p) => p.partName);
  if (partName) {
    if (!parts.includes(partName)) throw Errors.notFound('part', partName);
    return [partName];
  }
  if (required) throw Errors.validation('partName', 'required for multipart batches');
  return parts;
}

/** Data Staging routes (spec/batch-api.md §2). */
export function dataStagingRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const DS = '/data-staging/v1/external/:workspace';

  app.get<{ Params: { workspace: string }; Querystring: Record<string, unknown> }>(
    `${DS}/batches`,
    async (req) => {
      const page = await deps.batches.list(
        req.workspace,
        offsetPageToken(req.query),
        pageSizeOf(req.query, 50),
      );
      return { batches: page.items.map(batchMetadata), nextPageToken: page.next };
    },
  );

  app.get<{ Params: Params }>(`${DS}/batches/:batchId`, async (req) => {
    const b = await deps.batches.require(req.workspace, assertBatchId(req.params.batchId));
    return { batch: batchMetadata(b) };
  });

  app.get<{ Params: Params; Querystring: Record<string, unknown> }>(
    `${DS}/batches/:batchId/count`,
    async (req) => {
      const b = await deps.batches.require(req.workspace, assertBatchId(req.params.batchId));
      const parts = await resolvePart(deps, b, optString(req.query, 'partName', 128), false);
      let count = 0;
      for (const p of parts) count += await deps.batches.count(b.workspace, b.batchId, p);
      return { count };
    },
  );

  app.get<{ Params: Params }>(`${DS}/batches/:batchId/parts`, async (req) => {
    const b = await deps.batches.require(req.workspace, assertBatchId(req.params.batchId));
    if (b.batchType !== 'multipart-batch')
      throw Errors.validation('batch_id', `batch "${b.batchId}" is a ${b.batchType}, not a multipart-batch`);
    return { batchParts: await deps.batches.parts(b.workspace, b.batchId) };
  });

  app.get<{ Params: Params; Querystring: Record<string, unknown> }>(
    `${DS}/batches/:batchId/list`,
    async (req) => {
      const b = await deps.batches.require(req.workspace, assertBatchId(req.params.batchId));
      const partName = optString(req.query, 'partName', 128);
      const [part] = await resolvePart(deps, b, partName, true);
      const page = await deps.batches.listFiles(
        b.workspace,
        b.batchId,
        part,
        fileNamePageToken(req.query),
        pageSizeOf(req.query, 100),
      );
      const filesMetadata: FileMetadata[] = page.items.map(({ name, file }) => ({
        downloadURL: mintUrl(deps, {
          method: 'GET',
          workspace: b.workspace,
          batchId: b.batchId,
          part,
          name,
          purpose: 'file',
        }),
        fileName: name,
        ...(part ? { partName: part } : {}),
        ...(file.shardId ? { shardId: file.shardId } : {}),
        contentType: file.contentType,
        ...(file.nestedContentType ? { nestedContentType: file.nestedContentType } : {}),
      }));
      return { filesMetadata, nextPageToken: page.next };
    },
  );

  app.get<{ Params: Params; Querystring: Record<string, unknown> }>(
    `${DS}/batches/:batchId/shards`,
    async (req) => {
      const b = await deps.batches.require(req.workspace, assertBatchId(req.params.batchId));
      const page = await deps.batches.listShards(
        b.workspace,
        b.batchId,
        offsetPageToken(req.query),
        pageSizeOf(req.query, 100),
        SHARD_ORPHAN_MS,
      );
      const shards: ShardDetails[] = page.items.map((s) => ({
        shardId: s.shardId,
        statusName: s.statusName,
        statusType: s.statusType,
        eventTimestamp: s.eventTimestamp,
        shardObjectsCount: s.shardObjectsCount,
        ...(s.statusMetadata ? { statusMetadata: s.statusMetadata } : {}),
      }));
      return { shards, nextPageToken: page.next };
    },
  );

  // §2.8 single image upload: multipart form, one file part named after the file.
  app.post<{ Params: Params; Querystring: Record<string, unknown> }>(
    `${DS}/batches/:batchId/upload/image`,
    async (req, reply) => {
      const batchId = assertBatchId(req.params.batchId);
      const displayName = optString(req.query, 'displayName', 256) ?? batchId;
      if (!req.isMultipart())
        throw Errors.unsupportedMedia('expected multipart/form-data with one image file part');
      const maxBytes = deps.config.limits.maxImageBytes;
      const file = await firstFilePart(req, {
        files: 1,
        fields: 10,
        parts: 11,
        fieldSize: 64 * 1024,
        fileSize: maxBytes,
      });
      if (!file) throw Errors.validation('file', 'the form has no file part');
      const fileName = assertFileName(optString(req.query, 'fileName', 1024) ?? file.filename, 'fileName');
      const ext = path.extname(fileName).slice(1).toLowerCase();
      if (!IMAGE_EXTENSIONS.includes(ext))
        throw Errors.validation('fileName', `not an image extension (${IMAGE_EXTENSIONS.join(', ')})`);
      await deps.batches.ensure(req.workspace, batchId, {
        displayName,
        batchType: 'simple-batch',
        contentType: 'images',
      });
      const key = objectKeys.batchFile(req.workspace, batchId, '', fileName);
      const info = await storeFilePart(deps.store, key, file, {
        what: 'image',
        limit: maxBytes,
        contentType: safeMediaType(file.mimetype),
      });
      await deps.batches.putFile(req.workspace, batchId, '', fileName, {
        contentType: 'images',
        size: info.bytes,
      });
      reply.code(200);
      return { status: 'ok' };
    },
  );

  // §2.9 video upload: a signed PUT URL; the file becomes listable when the PUT lands.
  app.post<{ Params: Params; Querystring: Record<string, unknown> }>(
    `${DS}/batches/:batchId/upload/video`,
    async (req) => {
      const batchId = assertBatchId(req.params.batchId);
      const displayName = optString(req.query, 'displayName', 256) ?? batchId;
      const fileName = assertFileName(optString(req.query, 'fileName', 1024) ?? '', 'fileName');
      await deps.batches.ensure(req.workspace, batchId, {
        displayName,
        batchType: 'simple-batch',
        contentType: 'videos',
      });
      const uploadURL = mintUrl(deps, {
        method: 'PUT',
        workspace: req.workspace,
        batchId,
        part: '',
        name: fileName,
        purpose: 'video',
      });
      return { signedURLDetails: { uploadURL, extensionHeaders: {} } };
    },
  );

  // §2.10 bulk image shard: registers a shard and returns a signed PUT URL for its tar.
  app.post<{ Params: Params; Querystring: Record<string, unknown> }>(
    `${DS}/batches/:batchId/bulk-upload/image-files`,
    async (req) => {
      const batchId = assertBatchId(req.params.batchId);
      const displayName = optString(req.query, 'displayName', 256) ?? batchId;
      await deps.batches.ensure(req.workspace, batchId, {
        displayName,
        batchType: 'sharded-batch',
        contentType: 'images',
      });
      const now = deps.clock.now();
      const shardId = randomUUID();
      await deps.batches.putShard(req.workspace, batchId, {
        shardId,
        statusName: 'shard-registered',
        statusType: 'info',
        eventTimestamp: iso(now),
        shardObjectsCount: 0,
        registeredAt: now,
      });
      const uploadURL = mintUrl(deps, {
        method: 'PUT',
        workspace: req.workspace,
        batchId,
        part: '',
        name: `${shardId}.tar`,
        purpose: 'shard',
      });
      return { signedURLDetails: { uploadURL, extensionHeaders: {} } };
    },
  );

  // §2.11 / §2.12 reference ingests: validated and durably recorded here, downloaded by the scheduler.
  const refQueue = new Queue<ReferenceIngestJob>(REFERENCE_INGEST_QUEUE, {
    connection: deps.redis,
    prefix: QUEUE_PREFIX,
  });
  app.addHook('onClose', async () => {
    await refQueue.close();
  });
  for (const kind of ['images', 'videos'] as const) {
    const p = kind === 'images' ? 'bulk-upload/image-references' : 'bulk-upload/video-references';
    app.post<{ Params: Params; Querystring: Record<string, unknown> }>(
      `${DS}/batches/:batchId/${p}`,
      { bodyLimit: REFERENCES_BODY_LIMIT },
      async (req) => {
        const batchId = assertBatchId(req.params.batchId);
        const displayName = optString(req.query, 'displayName', 256) ?? batchId;
        const body = parseReferenceIngest(req.body, kind);
        const digest = createHash('sha256')
          .update(
            JSON.stringify({
              batchId,
              kind,
              references: body.references ?? null,
              referencesURL: body.referencesURL ?? null,
            }),
          )
          .digest('hex');
        await deps.batches.ensure(req.workspace, batchId, {
          displayName,
          batchType: kind === 'images' ? 'sharded-batch' : 'simple-batch',
          contentType: kind,
        });
        const shardsOut = (ids: string[]) => (kind === 'images' && body.references ? { shardIds: ids } : {});
        const existing = await deps.batches.getIngest(req.workspace, batchId, digest);
        if (existing)
          return { ingestId: existing.ingestId, ...shardsOut(existing.shardIds), duplicated: true };
        const ingestId = body.ingestId ?? digest.slice(0, 32);
        const shardIds =
          kind === 'images' && body.references
            ? Array.from({ length: Math.ceil(body.references.length / REFERENCE_SHARD_SIZE) }, (_, i) =>
                referenceShardId(digest, i),
              )
            : [];
        // Enqueue first (the job id makes a repeat a no-op), then record: a crash in between leaves a
        // job without a record, and the client's retry is accepted again rather than lost.
        await refQueue.add(
          'ingest',
          {
            workspace: req.workspace,
            batchId,
            ingestId,
            digest,
            kind,
            ...(body.references ? { references: body.references } : {}),
            ...(body.referencesURL ? { referencesURL: body.referencesURL } : {}),
            ...(body.notificationsURL ? { notificationsURL: body.notificationsURL } : {}),
            categories: body.categories,
          },
          {
            jobId: `ref-${req.workspace}-${batchId}-${digest}`,
            attempts: 5,
            backoff: { type: 'exponential', delay: 2000 },
            removeOnComplete: 1000,
            removeOnFail: 1000,
          },
        );
        const fresh = await deps.batches.recordIngest(req.workspace, batchId, digest, {
          ingestId,
          shardIds,
          createdAt: deps.clock.now(),
        });
        if (!fresh) {
          const rec = await deps.batches.getIngest(req.workspace, batchId, digest);
          return {
            ingestId: rec?.ingestId ?? ingestId,
            ...shardsOut(rec?.shardIds ?? shardIds),
            duplicated: true,
          };
        }
        return { ingestId, ...shardsOut(shardIds), duplicated: false };
      },
    );
  }

  app.post<{ Params: Params }>(`${DS}/batches/:batchId/roboql-ingest`, async (req) => {
    assertBatchId(req.params.batchId);
    throw Errors.notImplemented('POST .../roboql-ingest');
  });
}

const CATEGORIES = ['ingest-status', 'files-status'] as const;

/** Validates a reference-ingest body (spec §2.11): exactly one of the inline list and the JSONL URL. */
function parseReferenceIngest(
  raw: unknown,
  kind: 'images' | 'videos',
): {
  references?: FileReference[];
  referencesURL?: string;
  ingestId?: string;
  notificationsURL?: string;
  categories: ReferenceIngestJob['categories'];
} {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw Errors.validation('body', 'expected a JSON object');
  const b = raw as Record<string, unknown>;
  const listField = kind === 'images' ? 'imageReferences' : 'videoReferences';
  const urlField = kind === 'images' ? 'imageReferencesURL' : 'videoReferencesURL';
  const list = b[listField];
  const url = b[urlField];
  if ((list === undefined || list === null) === (url === undefined || url === null)) {
    throw Errors.validation(listField, `exactly one of "${listField}" and "${urlField}" is required`);
  }
  const out: ReturnType<typeof parseReferenceIngest> = { categories: ['ingest-status'] };
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list) || list.length === 0)
      throw Errors.validation(listField, 'must be a non-empty array');
    if (list.length > MAX_INLINE_REFERENCES)
      throw Errors.validation(listField, `at most ${MAX_INLINE_REFERENCES} references per request`);
    out.references = list.map((r, i) => {
      const o = r as Record<string, unknown>;
      if (
        !o ||
        typeof o !== 'object' ||
        typeof o.name !== 'string' ||
        typeof o.url !== 'string' ||
        !o.name ||
        !o.url
      ) {
        throw Errors.validation(
          `${listField}[${i}]`,
          'must be an object with non-empty string "name" and "url"',
        );
      }
      if (o.url.length > 8192)
        throw Errors.validation(`${listField}[${i}].url`, 'longer than 8192 characters');
      return { name: o.name, url: o.url };
    });
  } else {
    if (typeof url !== 'string' || !url || url.length > 8192)
      throw Errors.validation(urlField, 'must be a URL string');
    out.referencesURL = url;
  }
  if (b.ingestId !== undefined && b.ingestId !== null) {
    if (typeof b.ingestId !== 'string' || b.ingestId.length === 0 || b.ingestId.length > 1024)
      throw Errors.validation('ingestId', 'must be a string of 1-1024 characters');
    out.ingestId = b.ingestId;
  }
  if (b.notificationsURL !== undefined && b.notificationsURL !== null) {
    if (typeof b.notificationsURL !== 'string' || !/^https?:\/\//i.test(b.notificationsURL))
      throw Errors.validation('notificationsURL', 'must be an http(s) URL');
    out.notificationsURL = b.notificationsURL;
  }
  if (b.notificationCategories !== undefined && b.notificationCategories !== null) {
    const c = b.notificationCategories;
    if (!Array.isArray(c) || c.some((x) => !CATEGORIES.includes(x as (typeof CATEGORIES)[number]))) {
      throw Errors.validation('notificationCategories', `must be an array of ${CATEGORIES.join(', ')}`);
    }
    out.categories = [...new Set(c as ReferenceIngestJob['categories'])];
  }
  return out;
}
