import path from 'node:path';
import { IMAGE_EXTENSIONS, VIDEO_EXTENSIONS } from '@visionbatch/shared/wire/data-staging';
import { Client } from 'minio';
import picomatch from 'picomatch';
import type { ApiClient } from './api-client.ts';
import { s3SettingsFromEnv } from './aws-settings.ts';
import { CliError } from './cli-error.ts';
import { hasExtension } from './local-files.ts';
import { createProgress, type ProgressOptions } from './progress.ts';
import {
  type IngestResponse,
  maxReferencesPerRequest,
  type Reference,
  type ReferencesTarget,
  referencesSender,
} from './references-ingest.ts';

/**
 * `--data-source cloud-storage` of both create-batch commands, as Roboflow's CLI has it: list the
 * bucket path, presign a GET URL for every image (or video) under it, and register them as a
 * reference ingest, page by page. Credentials stay on this machine; the server only sees the
 * presigned URLs, valid for 24 h as Roboflow's.
 */

/** Validity of the presigned URLs, seconds (Roboflow's CLI default). */
export const PRESIGN_EXPIRY_S = 24 * 3600;

/** Where each bucket scheme's S3-compatible endpoint is by default. */
const DEFAULT_ENDPOINTS: Record<string, string> = {
  s3: 'https://s3.amazonaws.com',
  // Google Cloud Storage's XML API is S3-compatible with HMAC keys in the AWS variables.
  gs: 'https://storage.googleapis.com',
};

/** A parsed `--bucket-path`. */
export interface BucketPath {
  scheme: 's3' | 'gs';
  bucket: string;
  /** listing prefix: the path up to its first glob character */
  prefix: string;
  /** matcher of whole object keys, when the path has a glob (`s3://b/photos/**\/*.jpg`) */
  matches: ((key: string) => boolean) | null;
}

/** `s3://bucket/prefix`, `gs://bucket/prefix`, optionally ending in a glob. */
export function parseBucketPath(p: string): BucketPath {
  const m = /^(s3|gs):\/\/([^/]+)\/?(.*)$/.exec(p);
  if (!m)
    throw new CliError(
      `--bucket-path must look like s3://bucket/prefix (or gs://); got "${p}" (Azure's az:// is not supported)`,
    );
  const [, scheme, bucket, rest] = m;
  const glob = rest.search(/[*?[{]/);
  if (glob < 0) return { scheme: scheme as 's3' | 'gs', bucket, prefix: rest, matches: null };
  return {
    scheme: scheme as 's3' | 'gs',
    bucket,
    prefix: rest.slice(0, rest.lastIndexOf('/', glob) + 1),
    matches: picomatch(rest, { dot: false }),
  };
}

/** The options of `create-batch-of-images|videos` that a cloud-storage source reads. */
export interface BucketSourceOptions {
  batchId: string;
  bucketPath?: string;
  ingestId?: string;
  notificationsUrl?: string;
  notificationCategories?: string[];
  progress?: ProgressOptions;
}

/** `--data-source cloud-storage` of both create-batch commands. */
export async function ingestBucketPath(
  client: ApiClient,
  kind: 'image' | 'video',
  o: BucketSourceOptions,
  displayName: string,
  log: (line: string) => void,
): Promise<BucketIngestSummary> {
  if (!o.bucketPath) throw new CliError('--bucket-path is required with --data-source cloud-storage');
  return ingestBucket(client, { ...o, kind, bucketPath: o.bucketPath, displayName, log });
}

/** Options of {@link ingestBucket}. */
export interface BucketIngestOptions extends ReferencesTarget {
  bucketPath: string;
  /** where the AWS variables are read. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  progress?: ProgressOptions;
}

/** What a bucket ingest registered. */
export interface BucketIngestSummary {
  /** objects registered as references */
  references: number;
  /** objects under the path skipped for their extension */
  skipped: number;
  requests: IngestResponse[];
}

/**
 * Lists the bucket path and registers its images (or videos) as reference ingests: images in
 * requests of at most `MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST` (20 000) sent as the listing goes,
 * each with the user's ingest id unchanged (as Roboflow's CLI does); videos in one request. The
 * reference name is the object's base name, as Roboflow's CLI makes it.
 */
export async function ingestBucket(client: ApiClient, o: BucketIngestOptions): Promise<BucketIngestSummary> {
  const where = parseBucketPath(o.bucketPath);
  const s3 = await s3SettingsFromEnv(o.env ?? process.env, DEFAULT_ENDPOINTS[where.scheme]);
  const minio = new Client({
    endPoint: s3.endpoint.hostname,
    port: s3.endpoint.port ? Number(s3.endpoint.port) : undefined,
    useSSL: s3.endpoint.protocol === 'https:',
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    sessionToken: s3.sessionToken,
    region: s3.region,
    pathStyle: s3.pathStyle,
  });
  const send = await referencesSender(client, o);
  const exts = o.kind === 'image' ? IMAGE_EXTENSIONS : VIDEO_EXTENSIONS;
  const pageSize = o.kind === 'image' ? maxReferencesPerRequest() : Number.POSITIVE_INFINITY;
  const bar = createProgress(`Listing ${where.scheme}://${where.bucket}/${where.prefix}`, 0, o.progress);
  const names = new Set<string>();
  let duplicates = 0;
  let listed = 0;
  let skipped = 0;
  let submitted = 0;
  let page: Reference[] = [];
  const requests: IngestResponse[] = [];
  const flush = async () => {
    if (page.length === 0) return;
    requests.push(await send(page, o.ingestId));
    submitted += page.length;
    page = [];
    bar.update(submitted, { total: listed, status: `${submitted} submitted` });
  };
  try {
    const stream = minio.listObjectsV2(where.bucket, where.prefix, true);
    for await (const item of stream as AsyncIterable<{ name?: string }>) {
      const key = item.name;
      if (!key || key.endsWith('/')) continue;
      if (where.matches && !where.matches(key)) continue;
      if (!hasExtension(key, exts)) {
        skipped++;
        continue;
      }
      const name = path.posix.basename(key);
      if (names.has(name)) duplicates++;
      names.add(name);
      page.push({ name, url: await minio.presignedGetObject(where.bucket, key, PRESIGN_EXPIRY_S) });
      listed++;
      bar.update(submitted, { total: listed, status: `${listed} listed` });
      if (page.length >= pageSize) await flush();
    }
    await flush();
  } catch (e) {
    if (e instanceof CliError) throw e;
    // minio's errors name the bucket and the S3 error code, never the credentials.
    throw new CliError(`cannot list ${o.bucketPath}: ${(e as Error).message}`, { cause: e });
  } finally {
    bar.stop();
  }
  if (listed === 0)
    throw new CliError(
      `no ${o.kind}s under ${o.bucketPath}${skipped ? ` (${skipped} other objects skipped for their extension)` : ''}`,
    );
  if (duplicates > 0)
    o.log(
      `Warning: ${duplicates} object(s) share a base name with another; a batch keeps one file per name, the others fail as duplicated-file-name`,
    );
  if (o.kind === 'video' && listed > 1000) o.log(`Warning: ${listed} videos in one batch (more than 1000)`);
  o.log(`Registered ${listed} ${o.kind}(s) from ${o.bucketPath} in ${requests.length} request(s)`);
  return { references: listed, skipped, requests };
}
