import type { ApiClient } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { notificationText } from './format.ts';
import { jobFileSummary, summaryLines } from './job-summary.ts';
import { getJob, getStages, getTasks, type JobMetadata, type StageReport, stageReport } from './jobs.ts';
import { createProgress, type Progress, type ProgressOptions } from './progress.ts';

/** Options of {@link waitForJob}. */
export interface WaitOptions {
  /** Pause between polls. @default 1000 */
  intervalMs?: number;
  /** Give up after this long (0 = never). @default 0 */
  timeoutMs?: number;
  progress?: ProgressOptions;
  log?: (line: string) => void;
}

const statusText = (r: StageReport) =>
  `tasks | ${r.running} running${r.failed ? `, ${r.failed} failed` : ''} | ${Math.round(r.progress * 100)}%`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Follows a job until `isTerminal` (spec §5.5): polls `GET BP/jobs/{id}` and, for the progress bar,
 * the latest stage and its tasks. One bar per stage (its tasks as units). Ends with a summary of the
 * failed files by reason and the workflow's warnings. Returns the terminal job; success is
 * `error === false`.
 */
export async function waitForJob(
  client: ApiClient,
  jobId: string,
  o: WaitOptions = {},
): Promise<JobMetadata> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const interval = o.intervalMs ?? 1000;
  const deadline = o.timeoutMs ? Date.now() + o.timeoutMs : Infinity;
  let bar: Progress | null = null;
  let barStage = '';
  const finishBar = () => {
    bar?.stop();
    bar = null;
  };
  try {
    for (;;) {
      const job = await getJob(client, jobId);
      let stages = await getStages(client, jobId).catch(() => []);
      stages = stages.sort((a, b) => Date.parse(a.startTimestamp) - Date.parse(b.startTimestamp));
      const current = stages.findLast((s) => s.processingStageName === job.currentStage) ?? stages.at(-1);
      if (current) {
        const tasks = await getTasks(client, jobId, current.processingStageId).catch(() => []);
        const r = stageReport(current, tasks);
        if (barStage !== current.processingStageId) {
          // The previous stage ended between two polls: show its final counts before moving on.
          const prev = stages.find((s) => s.processingStageId === barStage);
          if (prev && bar) {
            const pr = stageReport(
              prev,
              await getTasks(client, jobId, prev.processingStageId).catch(() => []),
            );
            (bar as Progress).update(pr.succeeded + pr.failed, {
              total: pr.tasksNumber,
              status: statusText(pr),
            });
          }
          finishBar();
          barStage = current.processingStageId;
          const planned = job.plannedStages ?? [];
          const idx = planned.indexOf(current.processingStageName);
          const label = `Stage ${current.processingStageName}${idx >= 0 ? ` (${idx + 1}/${planned.length})` : ''}`;
          bar = createProgress(label, r.tasksNumber, o.progress);
        }
        const done = r.succeeded + r.failed;
        (bar as Progress | null)?.update(done, { total: r.tasksNumber, status: statusText(r) });
      }
      if (job.isTerminal) {
        finishBar();
        const note = notificationText(job.lastNotification);
        log(`Job ${jobId} ${job.error ? 'failed' : 'succeeded'}${note ? `: ${note}` : ''}`);
        // The summary is a courtesy: the job's outcome is known even when it cannot be fetched.
        const summary = await jobFileSummary(client, job).catch(() => null);
        for (const line of summary ? summaryLines(jobId, summary) : []) log(line);
        return job;
      }
      if (Date.now() > deadline) throw new CliError(`job ${jobId} still running after ${o.timeoutMs} ms`);
      await sleep(interval);
    }
  } finally {
    finishBar();
  }
}
