import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isSafeFileName } from '@visionbatch/shared/ids';
import type { FileMetadata } from '@visionbatch/shared/wire/data-staging';
import { type ApiClient, defaultTimeoutMs, seg, withRetries } from './api-client.ts';
import { getBatch, getCount, getParts, pages, selectParts } from './batch-listing.ts';
import { CliError } from './cli-error.ts';
import { mapLimit } from './local-files.ts';
import { createProgress, type ProgressOptions } from './progress.ts';
import { extractTarSafely } from './safe-extract.ts';

/** Options of `data-staging export-batch`. */
export interface ExportBatchOptions {
  batchId: string;
  targetDir: string;
  /** Parts of a multipart batch to export. @default all */
  partNames?: string[];
  /** Download again what the export log lists. @default false */
  overrideExisting?: boolean;
  /** Parallel downloads. @default MAX_DOWNLOAD_THREADS or 8 */
  concurrency?: number;
  progress?: ProgressOptions;
  log?: (line: string) => void;
}

/** What an export did. */
export interface ExportSummary {
  /** Files listed in the batch (or selected parts). */
  listed: number;
  downloaded: number;
  skipped: number;
  /** Archives unpacked, and the files they held. */
  archives: number;
  extractedFiles: number;
}

/** Name of the export resume log inside the target folder (spec §5.8). */
export const EXPORT_LOG = '.export_log.jsonl';

const isArchive = (name: string) => name.endsWith('.tar.gz') || name.endsWith('.tar');
const logKey = (f: { fileName: string; partName?: string | null; shardId?: string | null }) =>
  JSON.stringify([f.fileName, f.partName ?? null, f.shardId ?? null]);

async function readExportLog(file: string): Promise<Set<string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw e;
  }
  const keys = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as {
        file_name: string;
        part_name?: string | null;
        shard_id?: string | null;
      };
      keys.add(logKey({ fileName: r.file_name, partName: r.part_name, shardId: r.shard_id }));
    } catch {
      // A line torn by an interrupted run: that file is simply exported again.
    }
  }
  return keys;
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * Downloads a URL to `dest` (via a temp name, renamed when complete). The GET carries no API key;
 * any failure is retried (3 attempts, 1 s apart), as Roboflow's client does for downloads.
 */
export async function downloadTo(url: string, dest: string, timeoutMs = defaultTimeoutMs()): Promise<void> {
  await withRetries(
    async () => {
      const tmp = `${dest}.part-${randomBytes(4).toString('hex')}`;
      try {
        const ctl = new AbortController();
        const timer = setTimeout(() => ctl.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        let res: Response;
        try {
          res = await fetch(url, { signal: ctl.signal, redirect: 'follow' });
        } finally {
          clearTimeout(timer);
        }
        if (res.status >= 400 || !res.body) {
          const text = await res.text().catch(() => '');
          throw new CliError(
            `download of ${path.basename(dest)} failed with HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
          );
        }
        await pipeline(
          Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
          createWriteStream(tmp),
        );
        await rename(tmp, dest);
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
    },
    { attempts: 3, delayMs: 1000, isRetryable: () => true },
  );
}

/**
 * Exports a batch into `targetDir` (spec §5.7, §5.8): metadata → parts (multipart) → count →
 * paginated listing → each `downloadURL` saved as `<target>[/<part>]/<fileName>`; `.tar`/`.tar.gz`
 * files are unpacked there (unsafe archives refused) and discarded. Every finished file is appended
 * to `<target>/.export_log.jsonl`; a re-run skips those (unless `overrideExisting`).
 */
export async function exportBatch(client: ApiClient, o: ExportBatchOptions): Promise<ExportSummary> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const target = path.resolve(o.targetDir);
  await mkdir(target, { recursive: true });
  const logFile = path.join(target, EXPORT_LOG);
  const done = o.overrideExisting ? new Set<string>() : await readExportLog(logFile);
  const batch = await getBatch(client, o.batchId);
  let units: { partName?: string; dir: string; count: number }[];
  if (batch.batchType === 'multipart-batch') {
    const parts = selectParts(await getParts(client, o.batchId), o.partNames);
    units = [];
    for (const p of parts)
      units.push({
        partName: p.partName,
        dir: path.join(target, p.partName),
        count: await getCount(client, o.batchId, p.partName),
      });
  } else {
    if (o.partNames?.length)
      throw new CliError(
        `batch ${o.batchId} is a ${batch.batchType}; --part-name applies to multipart batches only`,
      );
    units = [{ dir: target, count: await getCount(client, o.batchId) }];
  }
  const total = units.reduce((n, u) => n + u.count, 0);
  const summary: ExportSummary = { listed: 0, downloaded: 0, skipped: 0, archives: 0, extractedFiles: 0 };
  const bar = createProgress('Exporting', total, o.progress);
  const tmpDir = path.join(target, `.export-tmp-${randomBytes(4).toString('hex')}`);
  const concurrency =
    o.concurrency ??
    (Number(process.env.MAX_DOWNLOAD_THREADS) > 0 ? Number(process.env.MAX_DOWNLOAD_THREADS) : 8);
  const ds = await client.dataStagingPrefix();
  try {
    for (const unit of units) {
      await mkdir(unit.dir, { recursive: true });
      for await (const page of pages((nextPageToken) =>
        client.get<{ filesMetadata: FileMetadata[]; nextPageToken?: string | null }>(
          `${ds}/batches/${seg(o.batchId)}/list`,
          {
            partName: unit.partName,
            nextPageToken,
          },
        ),
      )) {
        const files = page.filesMetadata ?? [];
        summary.listed += files.length;
        if (summary.listed > total)
          bar.update(summary.downloaded + summary.skipped, { total: summary.listed });
        // One page at a time: its signed URLs are fresh, and the next page is asked for only after.
        await mapLimit(files, concurrency, async (f) => {
          if (!isSafeFileName(f.fileName))
            throw new CliError(
              `refusing file name ${JSON.stringify(f.fileName)} from the API: not a plain file name`,
            );
          const archive = isArchive(f.fileName);
          const dest = path.join(unit.dir, f.fileName);
          if (done.has(logKey(f)) && (archive || (await exists(dest)))) {
            summary.skipped++;
            bar.increment();
            return;
          }
          if (archive) {
            await mkdir(tmpDir, { recursive: true });
            const tmp = path.join(tmpDir, `${randomBytes(6).toString('hex')}-${f.fileName}`);
            await downloadTo(f.downloadURL, tmp);
            try {
              const written = await extractTarSafely(tmp, unit.dir);
              summary.archives++;
              summary.extractedFiles += written.length;
            } finally {
              await rm(tmp, { force: true });
            }
          } else {
            await downloadTo(f.downloadURL, dest);
          }
          await appendFile(
            logFile,
            `${JSON.stringify({ file_name: f.fileName, part_name: f.partName ?? null, shard_id: f.shardId ?? null })}\n`,
          );
          summary.downloaded++;
          bar.increment();
        });
      }
    }
  } finally {
    bar.stop();
    await rm(tmpDir, { recursive: true, force: true });
  }
  if (summary.skipped)
    log(`Skipped ${summary.skipped} file(s) already exported (use --override-existing to download again)`);
  return summary;
}
