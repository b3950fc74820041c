/** The load test's Markdown report (the JSON is the source; this is for people). */

export interface LoadtestReport {
  generatedAt: string;
  machine: { cpus: number; model: string; node: string };
  options: Record<string, unknown>;
  filesIn: number;
  filesAccounted: number;
  duplicates: number;
  missing: string[];
  imagesPerSec: number;
  imageJobSeconds: number;
  imagesProcessed: number;
  imagesFailed: number;
  /** failed images that were not corrupted on purpose */
  unexpectedFailures: string[];
  videoFramesProcessed: number;
  videoFramesExpected: number;
  videoJobSeconds: number;
  jobsSucceeded: string[];
  apiRequests: number;
  apiErrors: number;
  apiP50Ms: number;
  apiP99Ms: number;
  apiMaxMs: number;
  maxPoolSize: number;
  maxDesiredPoolSize: number;
  poolStartedAt0: boolean;
  poolReturnedTo0: boolean;
  poolTimeline: Array<{ t: number; machines: number; desired: number }>;
  ok: boolean;
}

export function renderMarkdown(r: LoadtestReport): string {
  const opts = Object.entries(r.options)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const lines = [
    `# Load test — ${r.ok ? 'PASS' : 'FAIL'}`,
    '',
    `${r.generatedAt} on ${r.machine.cpus} × ${r.machine.model}, Node ${r.machine.node}. Options: ${opts}.`,
    '',
    '| figure | value |',
    '|---|---|',
    `| files in (images + videos) | ${r.filesIn} |`,
    `| files accounted exactly once (results or failure list) | ${r.filesAccounted} |`,
    `| duplicates | ${r.duplicates} |`,
    `| images processed / failed (corrupt on purpose) | ${r.imagesProcessed} / ${r.imagesFailed} |`,
    `| image job wall time | ${r.imageJobSeconds} s |`,
    `| images per second (image job, from creation to terminal) | ${r.imagesPerSec} |`,
    `| video frames processed / expected | ${r.videoFramesProcessed} / ${r.videoFramesExpected} |`,
    `| video job wall time (both jobs share the pool) | ${r.videoJobSeconds} s |`,
    `| jobs succeeded | ${r.jobsSucceeded.join(', ') || 'none'} |`,
    `| api requests while polling (5xx or network errors) | ${r.apiRequests} (${r.apiErrors}) |`,
    `| api latency p50 / p99 / max | ${r.apiP50Ms} / ${r.apiP99Ms} / ${r.apiMaxMs} ms |`,
    `| pool size: start → max → end | ${r.poolStartedAt0 ? 0 : '≠0'} → ${r.maxPoolSize} → ${r.poolReturnedTo0 ? 0 : 'not 0'} (max desired ${r.maxDesiredPoolSize}) |`,
    '',
    '## Pool size over time (cpu pool; changes only)',
    '',
    '| t (s) | machines | desired |',
    '|---|---|---|',
    ...r.poolTimeline.map((s) => `| ${s.t} | ${s.machines} | ${s.desired} |`),
    '',
  ];
  if (r.missing.length) lines.push(`Missing: ${r.missing.join(', ')}`, '');
  if (r.unexpectedFailures.length)
    lines.push(`Failed although not corrupted: ${r.unexpectedFailures.join(', ')}`, '');
  return `${lines.join('\n')}\n`;
}
