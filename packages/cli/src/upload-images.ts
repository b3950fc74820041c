import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type ApiClient, seg } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { ingestBucketPath } from './cloud-storage.ts';
import { appendImportLog, importLogPath, uploadedBefore } from './import-log.ts';
import { listImages, mapLimit } from './local-files.ts';
import { createProgress, type ProgressOptions } from './progress.ts';
import { ingestReferencesFile } from './references-ingest.ts';
import { planImageUpload } from './shard-plan.ts';
import { putFileToSignedUrl, type SignedUrlResponse, signedUrlOf } from './signed-upload.ts';
import { writeTarShard } from './tar-shard.ts';

/** Options of `data-staging create-batch-of-images`. */
export interface CreateImagesBatchOptions {
  batchId: string;
  /** @default 'local-directory' */
  dataSource?: 'local-directory' | 'references-file' | 'cloud-storage';
  imagesDir?: string;
  references?: string;
  /** `s3://bucket/prefix` (cloud-storage) */
  bucketPath?: string;
  /** Display name of a new batch. @default batchId */
  batchName?: string;
  ingestId?: string;
  notificationsUrl?: string;
  notificationCategories?: string[];
  /** Parallel single uploads. @default CPU count */
  concurrency?: number;
  /** Parallel shard uploads. @default MAX_SHARDS_UPLOAD_PROCESSES or 8 */
  shardConcurrency?: number;
  progress?: ProgressOptions;
  /** Where notices go. @default stderr */
  log?: (line: string) => void;
}

/** What an upload did. */
export interface ImagesUploadSummary {
  mode: 'single' | 'shards' | 'references';
  /** Images found in the directory. */
  total: number;
  /** Skipped because the resume log lists them. */
  skipped: number;
  uploaded: number;
  shards: number;
}

const stderrLog = (line: string) => process.stderr.write(`${line}\n`);

function envInt(name: string, dflt: number): number {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n > 0 ? n : dflt;
}

/**
 * Stages images into a batch (spec §2.8, §2.10, §2.11). From a local directory: ≤ 32 images are
 * posted one by one (multipart, one file part named after the file, CPU-count in parallel); more
 * are packed into tar shards of ≤ 256 images, each uploaded through a signed URL (8 in parallel).
 * Uploaded names go to `<dir>/.import_log-<batch_id>`, so a re-run resumes.
 */
export async function createBatchOfImages(
  client: ApiClient,
  o: CreateImagesBatchOptions,
): Promise<ImagesUploadSummary> {
  const log = o.log ?? stderrLog;
  const displayName = o.batchName || o.batchId;
  const source = o.dataSource ?? 'local-directory';
  if (source === 'references-file') {
    await ingestReferencesFile(client, 'image', o, displayName, log);
    return { mode: 'references', total: 0, skipped: 0, uploaded: 0, shards: 0 };
  }
  if (source === 'cloud-storage') {
    const r = await ingestBucketPath(client, 'image', o, displayName, log);
    return { mode: 'references', total: r.references, skipped: r.skipped, uploaded: 0, shards: 0 };
  }
  if (source !== 'local-directory')
    throw new CliError(`--data-source ${source} is not supported by visionbatch`);
  if (!o.imagesDir) throw new CliError('--images-dir is required with --data-source local-directory');
  const dir = o.imagesDir;
  const files = await listImages(dir);
  if (files.length === 0) throw new CliError(`no images found in ${dir}`);
  const logFile = importLogPath(dir, o.batchId);
  const plan = planImageUpload(files, await uploadedBefore(client, logFile, o.batchId, log));
  if (plan.skipped) log(`Skipping ${plan.skipped} image(s) already uploaded (resume log ${logFile})`);
  const nothingLeft = plan.mode === 'single' ? plan.files.length === 0 : plan.shards.length === 0;
  if (nothingLeft)
    return { mode: plan.mode, total: plan.total, skipped: plan.skipped, uploaded: 0, shards: 0 };
  const ds = await client.dataStagingPrefix();
  const base = `${ds}/batches/${seg(o.batchId)}`;

  if (plan.mode === 'single') {
    if (o.notificationsUrl)
      log('Notice: --notifications-url is ignored for batches of 32 images or fewer (single uploads)');
    const bar = createProgress('Uploading images', plan.files.length, o.progress);
    try {
      await mapLimit(plan.files, o.concurrency ?? os.availableParallelism(), async (name) => {
        const bytes = await readFile(path.join(dir, name));
        await client.post(`${base}/upload/image`, {
          query: { displayName, fileName: name },
          // A fresh form per attempt is not needed: undici re-serialises FormData on each fetch.
          body: singleImageForm(name, bytes),
        });
        await appendImportLog(logFile, [name]);
        bar.increment();
      });
    } finally {
      bar.stop();
    }
    return {
      mode: 'single',
      total: plan.total,
      skipped: plan.skipped,
      uploaded: plan.files.length,
      shards: 0,
    };
  }

  const ingestId = o.ingestId || randomUUID();
  const notification = o.notificationsUrl ? { ingestId, notificationsURL: o.notificationsUrl } : undefined;
  const todo = plan.shards.reduce((n, s) => n + s.length, 0);
  const bar = createProgress('Uploading shards', todo, o.progress);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'visionbatch-shards-'));
  try {
    await mapLimit(
      plan.shards,
      o.shardConcurrency ?? envInt('MAX_SHARDS_UPLOAD_PROCESSES', 8),
      async (shard, i) => {
        const tarPath = path.join(tmp, `shard-${i}.tar`);
        await writeTarShard(dir, shard, tarPath, notification);
        const res = await client.post<SignedUrlResponse>(`${base}/bulk-upload/image-files`, {
          query: { displayName },
        });
        const { uploadURL, extensionHeaders } = signedUrlOf(res);
        await putFileToSignedUrl(uploadURL, tarPath, extensionHeaders);
        await rm(tarPath, { force: true });
        await appendImportLog(logFile, shard);
        bar.increment(shard.length);
      },
    );
  } finally {
    bar.stop();
    await rm(tmp, { recursive: true, force: true });
  }
  return {
    mode: 'shards',
    total: plan.total,
    skipped: plan.skipped,
    uploaded: todo,
    shards: plan.shards.length,
  };
}

/**
 * The single-upload form (spec §2.8): exactly one file part whose field name is the file name
 * itself (Roboflow's client does this; the server takes the first file part).
 */
export function singleImageForm(fileName: string, bytes: Uint8Array): FormData {
  const form = new FormData();
  form.append(fileName, new Blob([bytes]), fileName);
  return form;
}
