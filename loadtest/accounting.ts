/**
 * The load test's accounting: every input file must be in the results or in the failure list,
 * exactly once (for videos: every sampled frame exactly once).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type ApiClient, exportBatch } from '@visionbatch/cli';
import { keepsFrame } from '@visionbatch/engine/video/frame-source';
import type { ApiPollers } from './pollers.ts';

/** Exports a job's export-stage batch into `dir` and returns every result row. */
export async function readResultRows(
  client: ApiClient,
  pollers: ApiPollers,
  jobId: string,
  dir: string,
): Promise<Record<string, unknown>[]> {
  const exp = (await pollers.stages(jobId)).find((s) => s.processingStageName === 'export');
  if (!exp) throw new Error(`job ${jobId} has no export stage`);
  await exportBatch(client, {
    batchId: exp.outputBatches[0],
    targetDir: dir,
    progress: { silent: true },
    log: () => {},
  });
  const rows: Record<string, unknown>[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.jsonl') || e.name.startsWith('.')) continue;
    for (const line of (await readFile(path.join(e.parentPath, e.name), 'utf8')).split('\n'))
      if (line.trim()) rows.push(JSON.parse(line));
  }
  return rows;
}

export interface Accounting {
  /** input files found exactly once in results or failures (videos: every sampled frame once) */
  accounted: number;
  duplicates: number;
  missing: string[];
}

export async function accountImages(
  client: ApiClient,
  pollers: ApiPollers,
  jobId: string,
  files: readonly string[],
  expectedFailures: ReadonlySet<string>,
  dir: string,
): Promise<Accounting & { processed: number; failed: number; unexpectedFailures: string[] }> {
  const rows = await readResultRows(client, pollers, jobId, dir);
  const failed = (await pollers.logs(jobId))
    .filter((l) => l.logType === 'image-failed')
    .map((l) => String(l.payload?.file));
  return {
    ...tallyImages(
      files,
      rows.map((r) => String(r.image)),
      failed,
    ),
    processed: rows.length,
    failed: failed.length,
    unexpectedFailures: failed.filter((f) => !expectedFailures.has(f)),
  };
}

/** Counts how often each input image appears among the result rows' images and the failed files. */
export function tallyImages(
  files: readonly string[],
  resultImages: readonly string[],
  failedFiles: readonly string[],
): Accounting {
  const seen = new Map<string, number>();
  for (const name of [...resultImages, ...failedFiles]) seen.set(name, (seen.get(name) ?? 0) + 1);
  return {
    accounted: files.filter((f) => seen.get(f) === 1).length,
    duplicates: [...seen.values()].filter((n) => n > 1).length,
    missing: files.filter((f) => !seen.has(f)),
  };
}

export async function accountVideos(
  client: ApiClient,
  pollers: ApiPollers,
  jobId: string,
  frameCounts: ReadonlyMap<string, number>,
  maxVideoFPS: number,
  dir: string,
  sourceFps = 30,
): Promise<Accounting & { frames: number; expectedFrames: number }> {
  const rows = await readResultRows(client, pollers, jobId, dir);
  const failed = new Set(
    (await pollers.logs(jobId))
      .filter((l) => l.logType === 'image-failed' || l.logType === 'video-failed')
      .map((l) => String(l.payload?.file)),
  );
  return { ...tallyVideos(frameCounts, maxVideoFPS, rows, failed, sourceFps), frames: rows.length };
}

/**
 * Counts each video as accounted when every frame it should yield at `maxVideoFPS` is in the rows
 * exactly once, or when it is in the failure list and no frame of it came twice.
 */
export function tallyVideos(
  frameCounts: ReadonlyMap<string, number>,
  maxVideoFPS: number,
  rows: ReadonlyArray<Record<string, unknown>>,
  failedVideos: ReadonlySet<string>,
  sourceFps = 30,
): Accounting & { expectedFrames: number } {
  const seen = new Map<string, number>();
  for (const r of rows) {
    const k = `${r.video}#${r.frame_number}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  let accounted = 0;
  let expectedFrames = 0;
  const missing: string[] = [];
  for (const [video, count] of frameCounts) {
    const expected: number[] = [];
    for (let n = 0; n < count; n++)
      if (keepsFrame(n, { num: sourceFps, den: 1 }, maxVideoFPS)) expected.push(n + 1); // 1-based
    expectedFrames += expected.length;
    const complete = expected.every((f) => seen.get(`${video}#${f}`) === 1);
    if (complete || (failedVideos.has(video) && expected.every((f) => (seen.get(`${video}#${f}`) ?? 0) <= 1)))
      accounted++;
    else missing.push(video);
  }
  return {
    accounted,
    duplicates: [...seen.values()].filter((n) => n > 1).length,
    missing,
    expectedFrames,
  };
}
