import type { JobLog } from '@visionbatch/shared/wire/batch-processing';
import { type ApiClient, seg } from './api-client.ts';
import { getCount, pages } from './batch-listing.ts';
import { getStages, type JobMetadata } from './jobs.ts';

/** What a finished job did with its input files, from its processing stage and its logs. */
export interface JobFileSummary {
  /** what the counts count: the files of an image job, the frames of a video job */
  unit: 'files' | 'frames';
  /** inputs, when known */
  total: number | null;
  failed: number;
  /**
   * failure reasons (`corrupt-image`, `download-failed`, ...) with their counts and the first
   * {@link NAMED_PER_REASON} files, most frequent first
   */
  reasons: Array<{ reason: string; count: number; files: string[] }>;
  /** `workflow-warning` messages (fields the workflow ignores) */
  warnings: string[];
}

/** Files named per failure reason in the summary; fetch-logs has them all. */
export const NAMED_PER_REASON = 3;

async function allLogs(client: ApiClient, jobId: string): Promise<JobLog[]> {
  const bp = await client.batchProcessingPrefix();
  const out: JobLog[] = [];
  for await (const page of pages((nextPageToken) =>
    client.get<{ logs: JobLog[]; nextPageToken?: string | null }>(`${bp}/jobs/${seg(jobId)}/logs`, {
      nextPageToken,
    }),
  )) {
    out.push(...(page.logs ?? []));
  }
  return out;
}

/**
 * Counts the failed files of a job by reason (its `image-failed` logs) against its input (the
 * processing stage's file counts, else the input batch's size).
 */
export async function jobFileSummary(client: ApiClient, job: JobMetadata): Promise<JobFileSummary> {
  const logs = await allLogs(client, job.jobId);
  const byReason = new Map<string, { count: number; files: string[] }>();
  const failedFiles = new Set<string>();
  const warnings: string[] = [];
  for (const l of logs) {
    const p = l.payload ?? {};
    if (l.logType === 'image-failed') {
      const reason = String(p.reason ?? 'unknown');
      const entry = byReason.get(reason) ?? { count: 0, files: [] };
      entry.count++;
      if (typeof p.file === 'string' && entry.files.length < NAMED_PER_REASON) entry.files.push(p.file);
      byReason.set(reason, entry);
      failedFiles.add(String(p.file ?? `(unnamed ${failedFiles.size})`));
    } else if (l.logType === 'workflow-warning') {
      warnings.push(`step "${String(p.step)}": ${String(p.message)}`);
    }
  }
  const processing = (await getStages(client, job.jobId).catch(() => [])).find(
    (s) => s.processingStageName === 'processing',
  );
  const counts = processing?.notification as { filesProcessed?: unknown; filesFailed?: unknown } | null;
  let total: number | null = null;
  let failed = failedFiles.size;
  if (typeof counts?.filesProcessed === 'number' && typeof counts.filesFailed === 'number') {
    total = counts.filesProcessed + counts.filesFailed;
    failed = Math.max(failed, counts.filesFailed);
  } else {
    const input = job.jobDefinition?.jobInput as { batchId?: string; partName?: string } | undefined;
    if (input?.batchId) total = await getCount(client, input.batchId, input.partName).catch(() => null);
  }
  return {
    unit: job.jobDefinition?.type === 'simple-video-processing-v1' ? 'frames' : 'files',
    total,
    failed,
    reasons: [...byReason]
      .map(([reason, e]) => ({ reason, count: e.count, files: e.files }))
      .sort((a, b) => b.count - a.count),
    warnings,
  };
}

/**
 * The closing lines of `--wait`: `3 of 6 files failed: corrupt-image ×2 (a.jpg, b.jpg),
 * download-failed ×1 (c.jpg); see fetch-logs -j <id>` (or `6 files processed, none failed`), then
 * each workflow warning.
 */
export function summaryLines(jobId: string, s: JobFileSummary): string[] {
  const lines: string[] = [];
  if (s.failed > 0) {
    const of = s.total !== null ? `${s.failed} of ${s.total}` : `${s.failed}`;
    const why = s.reasons
      .map((r) => {
        const more = r.count > r.files.length ? ', …' : '';
        return `${r.reason} ×${r.count}${r.files.length ? ` (${r.files.join(', ')}${more})` : ''}`;
      })
      .join(', ');
    lines.push(`${of} ${s.unit} failed${why ? `: ${why}` : ''}; see fetch-logs -j ${jobId}`);
  } else if (s.total !== null) {
    lines.push(`${s.total} ${s.unit} processed, none failed`);
  }
  for (const w of s.warnings) lines.push(`Warning: ${w}`);
  return lines;
}
