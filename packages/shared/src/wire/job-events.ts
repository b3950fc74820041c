import { z } from 'zod';

/**
 * Live job events (`GET /batch-processing/v1/external/{ws}/jobs/{jobId}/events`, Server-Sent
 * Events) and the progress fields of the job details: visionbatch extensions. Each SSE event of a
 * job carries the Redis stream id of the event as its `id:` (what `Last-Event-ID` resumes after),
 * its type as `event:` and one of the JSON payloads below as `data:`.
 */

/** `progress` and `estimatedCompletion`, added to every job of `GET .../jobs` and `GET .../jobs/{jobId}`. */
export const JobProgressFields = z.object({
  /** 0..1 over the current and remaining stages (processing weighs 0.9, export 0.1); 1 once succeeded */
  progress: z.number().min(0).max(1),
  /** ISO time the job should end at its measured throughput; the time it ended once it has; null while unknown */
  estimatedCompletion: z.string().datetime().nullable(),
});
export type JobProgressFields = z.infer<typeof JobProgressFields>;

/** `event: state`: the job moved (queued, running, succeeded, failed, aborted). */
export const JobStateEventData = z.object({
  state: z.enum(['queued', 'running', 'succeeded', 'failed', 'aborted']),
  /** true on the move that ended the job */
  terminal: z.boolean().optional(),
  /** on a restart: the new epoch */
  epoch: z.number().int().optional(),
});

/** `event: stage`: a stage moved (planning, running, succeeded, failed, aborted). */
export const JobStageEventData = z.object({
  stage: z.string(),
  state: z.enum(['planning', 'running', 'succeeded', 'failed', 'aborted']),
});

/** `event: task`: a task attempt started, progressed or ended. */
export const JobTaskEventData = z.object({
  stage: z.string(),
  taskId: z.string(),
  state: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  /** 0..1 */
  progress: z.number().min(0).max(1).optional(),
});

/** `event: log`: a line of the job's log, as `GET .../jobs/{jobId}/logs` lists it. */
export const JobLogEventData = z.object({
  createdAt: z.string(),
  processingStageId: z.string().nullable(),
  taskId: z.string().nullable(),
  severity: z.enum(['info', 'warning', 'error']),
  reportingModule: z.string(),
  logType: z.string(),
  payload: z.record(z.string(), z.unknown()),
});

/**
 * `event: gap` (no `id:`): the `Last-Event-ID` the client sent is older than the oldest event the
 * job's capped stream still holds, so events may have been missed; re-read the job, then go on.
 */
export const JobGapEventData = z.object({
  lastEventId: z.string(),
  firstAvailableId: z.string(),
  message: z.string(),
});

/** `event: terminal` (no `id:`), sent after the job's last `state` event, before the stream closes. */
export const JobTerminalEventData = z
  .object({
    jobId: z.string(),
    state: z.enum(['succeeded', 'failed', 'aborted']),
    error: z.boolean(),
    isTerminal: z.literal(true),
    lastNotification: z.union([z.string(), z.record(z.string(), z.unknown())]).nullable(),
  })
  .extend(JobProgressFields.shape);

/** `event: close` (no `id:`): the server ends the stream before the job ended; reconnect with `Last-Event-ID`. */
export const JobCloseEventData = z.object({
  reason: z.enum(['idle', 'max-duration', 'server-shutdown']),
});

/** SSE event types of a job stream, and the payload of each. */
export const JOB_EVENT_DATA = {
  state: JobStateEventData,
  stage: JobStageEventData,
  task: JobTaskEventData,
  log: JobLogEventData,
  gap: JobGapEventData,
  terminal: JobTerminalEventData,
  close: JobCloseEventData,
} as const;
export type JobEventType = keyof typeof JOB_EVENT_DATA;

/** A Redis stream id (`<ms>-<seq>`), the form of `Last-Event-ID`. */
export const STREAM_ID_RE = /^\d{1,16}-\d{1,16}$/;
