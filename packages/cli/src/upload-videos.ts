import { stat } from 'node:fs/promises';
import path from 'node:path';
import { type ApiClient, seg } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { ingestBucketPath } from './cloud-storage.ts';
import { appendImportLog, importLogPath, uploadedBefore } from './import-log.ts';
import { listVideos } from './local-files.ts';
import { createProgress, type ProgressOptions } from './progress.ts';
import { ingestReferencesFile } from './references-ingest.ts';
import { putFileToSignedUrl, type SignedUrlResponse, signedUrlOf } from './signed-upload.ts';

/** Options of `data-staging create-batch-of-videos`. */
export interface CreateVideosBatchOptions {
  batchId: string;
  /** @default 'local-directory' */
  dataSource?: 'local-directory' | 'references-file' | 'cloud-storage';
  videosDir?: string;
  references?: string;
  /** `s3://bucket/prefix` (cloud-storage) */
  bucketPath?: string;
  batchName?: string;
  ingestId?: string;
  notificationsUrl?: string;
  notificationCategories?: string[];
  progress?: ProgressOptions;
  log?: (line: string) => void;
}

const stderrLog = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Stages videos (spec §2.9, §2.12). Local directory: for each video (one at a time, like the
 * Roboflow client) ask for a signed URL, then PUT the file, streamed; progress counts bytes.
 * Uploaded names go to the resume log. References file: one reference ingest request.
 */
export async function createBatchOfVideos(
  client: ApiClient,
  o: CreateVideosBatchOptions,
): Promise<{ uploaded: number; skipped: number }> {
  const log = o.log ?? stderrLog;
  const displayName = o.batchName || o.batchId;
  const source = o.dataSource ?? 'local-directory';
  if (source === 'references-file') {
    await ingestReferencesFile(client, 'video', o, displayName, log);
    return { uploaded: 0, skipped: 0 };
  }
  if (source === 'cloud-storage') {
    await ingestBucketPath(client, 'video', o, displayName, log);
    return { uploaded: 0, skipped: 0 };
  }
  if (source !== 'local-directory')
    throw new CliError(`--data-source ${source} is not supported by visionbatch`);
  if (!o.videosDir) throw new CliError('--videos-dir is required with --data-source local-directory');
  const dir = o.videosDir;
  const files = await listVideos(dir);
  if (files.length === 0) throw new CliError(`no videos found in ${dir}`);
  if (o.notificationsUrl) log('Notice: --notifications-url is ignored for local video uploads');
  const logFile = importLogPath(dir, o.batchId);
  const done = await uploadedBefore(client, logFile, o.batchId, log);
  const todo = files.filter((f) => !done.has(f));
  if (todo.length < files.length)
    log(`Skipping ${files.length - todo.length} video(s) already uploaded (resume log ${logFile})`);
  if (todo.length === 0) return { uploaded: 0, skipped: files.length };
  const sizes = await Promise.all(todo.map(async (f) => (await stat(path.join(dir, f))).size));
  const totalMiB = Math.ceil(sizes.reduce((a, b) => a + b, 0) / 2 ** 20);
  const ds = await client.dataStagingPrefix();
  const bar = createProgress('Uploading videos (MiB)', totalMiB, o.progress);
  let sent = 0;
  try {
    for (const [i, name] of todo.entries()) {
      const res = await client.post<SignedUrlResponse>(`${ds}/batches/${seg(o.batchId)}/upload/video`, {
        query: { fileName: name, displayName },
      });
      const { uploadURL, extensionHeaders } = signedUrlOf(res);
      await putFileToSignedUrl(uploadURL, path.join(dir, name), extensionHeaders);
      await appendImportLog(logFile, [name]);
      sent += sizes[i];
      bar.update(Math.min(totalMiB, Math.ceil(sent / 2 ** 20)), { status: `${i + 1}/${todo.length} videos` });
    }
  } finally {
    bar.stop();
  }
  return { uploaded: todo.length, skipped: files.length - todo.length };
}
