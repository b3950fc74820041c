import type { JobLog, JobStageDetails, TaskStatus } from '@visionbatch/shared/wire/batch-processing';
import { type ApiClient, seg } from './api-client.ts';
import { pages } from './batch-listing.ts';
import { CliError } from './cli-error.ts';
import { notificationText, pct, red, shortTime, table } from './format.ts';
import type { RecordSink } from './jsonl.ts';

/** JobMetadata (spec §3.1). */
export interface JobMetadata {
  jobId: string;
  name: string;
  jobDefinition: Record<string, unknown>;
  currentStage?: string | null;
  plannedStages?: string[] | null;
  error?: boolean;
  isTerminal?: boolean;
  lastNotification?: Record<string, unknown> | string | null;
  createdAt: string;
  lastUpdate: string;
  restartParametersOverride?: Record<string, unknown>[];
  /** machine time billed to the job (a visionbatch extension) */
  computeUsage?: { cpuSeconds: number; gpuSeconds: number; credits: number };
  /** 0..1 over the job's stages (a visionbatch extension) */
  progress?: number;
  /** ISO time the job should end, or ended; null while unknown (a visionbatch extension) */
  estimatedCompletion?: string | null;
}

type Print = (line: string) => void;
const stdoutPrint: Print = (line) => process.stdout.write(`${line}\n`);

/** `POST BP/jobs/{id}` with the definition; `name` only when given (spec §3.4). */
export async function triggerJob(
  client: ApiClient,
  jobId: string,
  body: Record<string, unknown>,
  name?: string,
): Promise<void> {
  const bp = await client.batchProcessingPrefix();
  await client.post(`${bp}/jobs/${seg(jobId)}`, { query: { name: name || undefined }, json: body });
}

export async function getJob(client: ApiClient, jobId: string): Promise<JobMetadata> {
  const bp = await client.batchProcessingPrefix();
  const res = await client.get<{ job?: JobMetadata }>(`${bp}/jobs/${seg(jobId)}`);
  if (!res?.job) throw new CliError('could not decode the API response: no "job"');
  return res.job;
}

export async function getStages(client: ApiClient, jobId: string): Promise<JobStageDetails[]> {
  const bp = await client.batchProcessingPrefix();
  const res = await client.get<{ stages?: JobStageDetails[] }>(`${bp}/jobs/${seg(jobId)}/stages`);
  return res?.stages ?? [];
}

export async function getTasks(client: ApiClient, jobId: string, stageId: string): Promise<TaskStatus[]> {
  const bp = await client.batchProcessingPrefix();
  const out: TaskStatus[] = [];
  for await (const page of pages((nextPageToken) =>
    client.get<{ tasks: TaskStatus[]; nextPageToken: string | null }>(
      `${bp}/jobs/${seg(jobId)}/stages/${seg(stageId)}/tasks`,
      { nextPageToken },
    ),
  )) {
    out.push(...(page.tasks ?? []));
  }
  return out;
}

/** Task counts and progress of one stage, computed as the Roboflow CLI does (spec §5.5). */
export interface StageReport {
  stage: JobStageDetails;
  tasksNumber: number;
  succeeded: number;
  failed: number;
  /** Started, not finished. */
  running: number;
  /** Not started: `tasksNumber` minus tasks that report a progress. */
  waiting: number;
  /** 0..1: finished tasks count 1, running ones their `progress`. */
  progress: number;
  finished: boolean;
  stageFailed: boolean;
  /** Failed tasks grouped by identical notification, most frequent first. */
  failures: { notification: string; count: number }[];
}

/** Pure: the report of a stage from its tasks. */
export function stageReport(stage: JobStageDetails, tasks: readonly TaskStatus[]): StageReport {
  const tasksNumber = Math.max(1, stage.tasksNumber);
  let succeeded = 0;
  let failed = 0;
  let running = 0;
  let registered = 0;
  let units = 0;
  const failures = new Map<string, number>();
  for (const t of tasks) {
    const status = String(t.statusType ?? '').toLowerCase();
    if (t.progress !== null && t.progress !== undefined) registered++;
    if (status === 'info') {
      running += t.progress !== null && t.progress !== undefined ? 1 : 0;
      units += Math.max(0, Math.min(1, t.progress ?? 0));
      continue;
    }
    units += 1;
    if (status.includes('error')) {
      failed++;
      const key = notificationText(t.notification) || '(no details)';
      failures.set(key, (failures.get(key) ?? 0) + 1);
    } else if (status.includes('success')) succeeded++;
  }
  const stageStatus = String(stage.statusType ?? '').toLowerCase();
  return {
    stage,
    tasksNumber,
    succeeded,
    failed,
    running,
    waiting: Math.max(0, tasksNumber - registered),
    progress: Math.min(1, units / tasksNumber),
    finished: stageStatus !== 'info',
    stageFailed: stageStatus.includes('error'),
    failures: [...failures.entries()]
      .map(([notification, count]) => ({ notification, count }))
      .sort((a, b) => b.count - a.count),
  };
}

/** Pure: the human-readable details of a job, for running and finished jobs alike. */
export function renderJobDetails(job: JobMetadata, reports: readonly StageReport[], tty = false): string {
  const state = job.isTerminal
    ? job.error
      ? 'FAILED'
      : 'SUCCEEDED'
    : job.error
      ? 'RUNNING (with errors)'
      : 'RUNNING';
  const lines = [
    `Job ID:        ${job.jobId}`,
    `Name:          ${job.name}`,
    `State:         ${job.isTerminal && job.error ? red(state, tty) : state}`,
    `Created:       ${shortTime(job.createdAt)}`,
    `Last update:   ${shortTime(job.lastUpdate)}`,
  ];
  const planned = job.plannedStages ?? [];
  if (planned.length || job.currentStage) {
    const chain = (planned.length ? planned : [job.currentStage as string])
      .map((s) => (s === job.currentStage ? `[${s}]` : s))
      .join(' -> ');
    lines.push(`Stages:        ${chain}`);
  }
  const last = notificationText(job.lastNotification);
  if (last) lines.push(`Last status:   ${last}`);
  if (typeof job.progress === 'number') {
    const eta = job.estimatedCompletion
      ? `, ${job.isTerminal ? 'ended' : 'estimated completion'} ${shortTime(job.estimatedCompletion)}`
      : job.isTerminal
        ? ''
        : ', completion not estimated yet';
    lines.push(`Progress:      ${pct(job.progress)}${eta}`);
  }
  const usage = job.computeUsage;
  if (usage)
    lines.push(
      `Compute:       ${usage.cpuSeconds.toFixed(1)} s CPU, ${usage.gpuSeconds.toFixed(1)} s GPU (${usage.credits.toFixed(4)} credits)`,
    );
  if (job.restartParametersOverride?.length) {
    lines.push(`Restarts:      ${job.restartParametersOverride.length}`);
    for (const r of job.restartParametersOverride) lines.push(`  ${JSON.stringify(r)}`);
  }
  lines.push('Definition:');
  lines.push(
    ...JSON.stringify(job.jobDefinition, null, 2)
      .split('\n')
      .map((l) => `  ${l}`),
  );
  if (reports.length) {
    lines.push('');
    lines.push(
      table(
        [
          'STAGE',
          'STATUS',
          'PROGRESS',
          'TASKS',
          'OK',
          'FAILED',
          'RUNNING',
          'WAITING',
          'STARTED',
          'OUTPUT BATCHES',
        ],
        reports.map((r) => [
          r.stage.processingStageName,
          r.stage.statusType,
          pct(r.progress),
          String(r.tasksNumber),
          String(r.succeeded),
          String(r.failed),
          String(r.running),
          String(r.waiting),
          shortTime(r.stage.startTimestamp),
          r.stage.outputBatches.join(', ') || '-',
        ]),
      ),
    );
    for (const r of reports) {
      const note = notificationText(r.stage.notification);
      if (note) lines.push(`${r.stage.processingStageName}: ${note}`);
      if (r.failures.length) {
        lines.push(`Failed tasks of stage ${r.stage.processingStageName}:`);
        for (const f of r.failures) lines.push(`  ${f.count} x ${f.notification}`);
      }
    }
  } else {
    lines.push('', 'No stages planned yet.');
  }
  return lines.join('\n');
}

/** Stages sorted by start time with their task reports. */
export async function jobStageReports(client: ApiClient, jobId: string): Promise<StageReport[]> {
  const stages = (await getStages(client, jobId)).sort(
    (a, b) => Date.parse(a.startTimestamp) - Date.parse(b.startTimestamp),
  );
  const reports: StageReport[] = [];
  for (const s of stages) reports.push(stageReport(s, await getTasks(client, jobId, s.processingStageId)));
  return reports;
}

/** `show-job-details`. */
export async function showJobDetails(
  client: ApiClient,
  jobId: string,
  print: Print = stdoutPrint,
): Promise<void> {
  const job = await getJob(client, jobId);
  print(renderJobDetails(job, await jobStageReports(client, jobId), Boolean(process.stdout.isTTY)));
}

/** `list-jobs`: `maxPages` pages of 10 jobs. */
export async function listJobs(
  client: ApiClient,
  maxPages = 1,
  print: Print = stdoutPrint,
): Promise<JobMetadata[]> {
  const bp = await client.batchProcessingPrefix();
  const jobs: JobMetadata[] = [];
  for await (const page of pages(
    (nextPageToken) =>
      client.get<{ jobs: JobMetadata[]; nextPageToken: string | null }>(`${bp}/jobs`, {
        pageSize: 10,
        nextPageToken,
      }),
    maxPages,
  )) {
    jobs.push(...(page.jobs ?? []));
  }
  if (!jobs.length) {
    print('No jobs.');
    return jobs;
  }
  print(
    table(
      ['JOB ID', 'NAME', 'STATE', 'STAGE', 'CREATED', 'LAST UPDATE'],
      jobs.map((j) => [
        j.jobId,
        j.name,
        j.isTerminal ? (j.error ? 'failed' : 'succeeded') : j.error ? 'running (errors)' : 'running',
        j.currentStage ?? '-',
        shortTime(j.createdAt),
        shortTime(j.lastUpdate),
      ]),
    ),
  );
  return jobs;
}

/** `abort-job`: prints the JSON answer. */
export async function abortJob(
  client: ApiClient,
  jobId: string,
  print: Print = stdoutPrint,
): Promise<unknown> {
  const bp = await client.batchProcessingPrefix();
  const res = await client.post(`${bp}/jobs/${seg(jobId)}/abort`);
  print(JSON.stringify(res, null, 2));
  return res;
}

/** `restart-job`: no body without overrides, else `parameters-override-v1`; prints the JSON answer. */
export async function restartJob(
  client: ApiClient,
  jobId: string,
  body: Record<string, unknown> | undefined,
  print: Print = stdoutPrint,
): Promise<unknown> {
  const bp = await client.batchProcessingPrefix();
  const res = await client.post(`${bp}/jobs/${seg(jobId)}/restart`, body ? { json: body } : {});
  print(JSON.stringify(res, null, 2));
  return res;
}

/** `fetch-logs`: every log page (not retried, as in Roboflow's client) as snake_case records. */
export async function fetchLogs(
  client: ApiClient,
  o: { jobId: string; severity?: string },
  sink: RecordSink,
): Promise<number> {
  if (o.severity !== undefined && !['info', 'error', 'warning'].includes(o.severity)) {
    throw new CliError(`--log-severity must be info, error or warning, got ${o.severity}`);
  }
  const bp = await client.batchProcessingPrefix();
  let n = 0;
  for await (const page of pages((nextPageToken) =>
    client.get<{ logs: JobLog[]; nextPageToken?: string | null }>(
      `${bp}/jobs/${seg(o.jobId)}/logs`,
      { severity: o.severity, nextPageToken },
      { retry: false },
    ),
  )) {
    for (const l of page.logs ?? []) {
      await sink.write(l as unknown as Record<string, unknown>);
      n++;
    }
  }
  return n;
}
