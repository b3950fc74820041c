import type { Estimate, EstimatePending } from '@visionbatch/shared/wire/job-estimate';
import type { ApiClient } from './api-client.ts';
import { seg } from './api-client.ts';
import { getBatch, getParts } from './batch-listing.ts';
import { CliError } from './cli-error.ts';

/** Seconds one estimate request asks the server to wait, below the client's own request timeout. */
const SERVER_WAIT_S = 45;
/** Pause between two looks at a running estimate. */
const POLL_MS = 2000;

/** Whether a batch (or its part) holds videos: the estimate builds a video job's body then. */
export async function batchHoldsVideos(
  client: ApiClient,
  batchId: string,
  partName?: string,
): Promise<boolean> {
  const batch = await getBatch(client, batchId);
  if (partName) {
    const part = (await getParts(client, batchId)).find((p) => p.partName === partName);
    if (!part) throw new CliError(`batch ${batchId} has no part ${partName}`);
    return part.contentType === 'videos';
  }
  return batch.batchContentType === 'videos';
}

/**
 * `POST BP/jobs/estimate` with a job's body; while the sample job runs (202), asks
 * `GET BP/jobs/{estimateJobId}/estimate` until it is done or `timeoutMs` passed.
 */
export async function estimateJob(
  client: ApiClient,
  body: Record<string, unknown>,
  o: { machines?: number; timeoutMs?: number; pollMs?: number; log?: (line: string) => void } = {},
): Promise<Estimate> {
  const bp = await client.batchProcessingPrefix();
  const deadline = o.timeoutMs ? Date.now() + o.timeoutMs : Number.POSITIVE_INFINITY;
  let answer = await client.post<Estimate | EstimatePending>(`${bp}/jobs/estimate`, {
    query: { machines: o.machines, wait: SERVER_WAIT_S },
    json: body,
    // the server may hold the request for SERVER_WAIT_S; a retry would start a second sample job
    retry: false,
    timeoutMs: Math.max(client.timeoutMs, (SERVER_WAIT_S + 15) * 1000),
  });
  if (answer.status === 'running')
    o.log?.(`Running a sample of the batch as job ${answer.estimateJobId} ...`);
  while (answer.status === 'running') {
    if (Date.now() > deadline)
      throw new CliError(
        `the estimate's sample job ${answer.estimateJobId} is still running; see wait-job -j ${answer.estimateJobId}`,
      );
    await new Promise((r) => setTimeout(r, o.pollMs ?? POLL_MS));
    answer = await client.get<Estimate | EstimatePending>(
      `${bp}/jobs/${seg(answer.estimateJobId)}/estimate`,
      {
        machines: o.machines,
      },
    );
  }
  return answer;
}

const secs = (s: number) =>
  s >= 3600 ? `${(s / 3600).toFixed(2)} h` : s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`;

/** Pure: the estimate as text. */
export function renderEstimate(e: Estimate): string {
  const unit = e.unit === 'image' ? 'image' : 'frame';
  const machineSeconds = e.predicted.machineSeconds[e.pool];
  const sample =
    e.unit === 'image'
      ? `${e.sample.units} of ${e.batch.units} images`
      : `${e.sample.videoSeconds} s of 1 of ${e.batch.files} videos (${e.sample.units} of ${e.batch.units} frames)`;
  return [
    `Estimate of ${e.jobType === 'simple-image-processing-v1' ? 'an image' : 'a video'} job on ${e.machines} ${e.pool} machine(s)` +
      (e.machinesUsed < e.machines ? ` (its ${e.batch.tasks} tasks keep ${e.machinesUsed} busy)` : ''),
    `  machine time:  ${secs(machineSeconds)} (${machineSeconds.toFixed(1)} ${e.pool}-seconds)`,
    `  credits:       ${e.predicted.credits.toFixed(4)}`,
    `  wall time:     ${secs(e.predicted.wallSeconds)}`,
    `Measured on a sample of ${sample}, ${e.slotsPerMachine} slot(s) per machine:`,
    `  per ${unit}:     ${e.perUnitSeconds.mean.toFixed(3)} s (fastest ${e.perUnitSeconds.min.toFixed(3)} s, slowest ${e.perUnitSeconds.max.toFixed(3)} s)`,
    `  start-up:      ${e.startupSeconds.toFixed(2)} s per machine (loading the models)`,
    `The sample ran as job ${e.estimateJobId}, billed ${e.estimateCost.credits.toFixed(4)} credits.`,
    ...(e.batch.unitsExtrapolatedFiles
      ? [
          `${e.batch.unitsExtrapolatedFiles} video(s) were never probed: counted as long as the others on average.`,
        ]
      : []),
  ].join('\n');
}
