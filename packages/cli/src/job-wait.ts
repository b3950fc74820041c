import type { ApiClient } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { notificationText, shortTime } from './format.ts';
import { followJobEvents, type JobEvent } from './job-events.ts';
import { jobFileSummary, summaryLines } from './job-summary.ts';
import { getJob, getStages, getTasks, type JobMetadata, type StageReport, stageReport } from './jobs.ts';
import { createProgress, type Progress, type ProgressOptions } from './progress.ts';

/** Options of {@link waitForJob}. */
export interface WaitOptions {
  /** Pause between polls when the server has no event stream. @default 1000 */
  intervalMs?: number;
  /** Give up after this long (0 = never). @default 0 */
  timeoutMs?: number;
  progress?: ProgressOptions;
  log?: (line: string) => void;
  /** Follow the job's event stream (polling when the server has none). @default true */
  events?: boolean;
  /** Every event of the stream, as it comes (`watch --jsonl` prints them). */
  onEvent?: (e: JobEvent) => void;
}

/** With the event stream: events closer together than this make one refresh. */
const COALESCE_MS = 200;
/** With the event stream: a refresh at least this often, whatever the events. */
const EVENT_SAFETY_MS = 5000;

const statusText = (r: StageReport, job: JobMetadata) =>
  `tasks | ${r.running} running${r.failed ? `, ${r.failed} failed` : ''} | ${Math.round(r.progress * 100)}%` +
  (job.estimatedCompletion ? ` | ETA ${shortTime(job.estimatedCompletion)}` : '');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A wake-up call: `wait` resolves at the next `fire` (or after `ms`). */
function wakeUp() {
  let fire: () => void = () => {};
  let pending = false;
  return {
    fire() {
      pending = true;
      fire();
    },
    async wait(ms: number) {
      if (!pending)
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, ms);
          fire = () => {
            clearTimeout(t);
            resolve();
          };
        });
      pending = false;
      fire = () => {};
    },
  };
}

/**
 * Follows a job until `isTerminal` (spec §5.5) and shows one progress bar per stage (its tasks as
 * units), read from `GET BP/jobs/{id}`, the latest stage and its tasks. The job's event stream
 * (`GET BP/jobs/{id}/events`) says when to read them again, so nothing is read while nothing
 * happens and the end is seen at once; without a stream (an older server, Roboflow's API, or one
 * that fails) the job is polled every `intervalMs`. Ends with a summary of the failed files by
 * reason and the workflow's warnings. Returns the terminal job; success is `error === false`.
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
  const wake = wakeUp();
  const stream = new AbortController();
  let streaming = o.events !== false;
  if (streaming)
    followJobEvents(
      client,
      jobId,
      (e) => {
        o.onEvent?.(e);
        wake.fire();
      },
      { signal: stream.signal },
    ).then(
      () => wake.fire(),
      () => {
        streaming = false;
        wake.fire();
      },
    );
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
              status: statusText(pr, job),
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
        (bar as Progress | null)?.update(done, { total: r.tasksNumber, status: statusText(r, job) });
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
      if (streaming) {
        await wake.wait(Math.min(EVENT_SAFETY_MS, Math.max(0, deadline - Date.now())));
        await sleep(COALESCE_MS);
      } else await sleep(interval);
    }
  } finally {
    stream.abort();
    finishBar();
  }
}
