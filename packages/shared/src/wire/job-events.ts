import { z } from 'zod';
import { JobLogV1 } from './batch-processing.ts';

/**
 * The events of a job's live stream (`GET .../jobs/{jobId}/events`, `text/event-stream`): each SSE
 * message has the Redis stream id as `id`, the kind as `event` and one of these as JSON `data`.
 * The stream ends after `terminal`; `Last-Event-ID` resumes it; comment lines are heartbeats.
 */
export const JobStateEventV1 = z
  .object({ state: z.string(), terminal: z.boolean().optional(), epoch: z.number().int().optional() })
  .meta({
    id: 'JobStateEvent',
    description: 'event `state`: the job moved (queued, running, a terminal state)',
  });
export const JobStageEventV1 = z
  .object({ stage: z.string(), state: z.string() })
  .meta({ id: 'JobStageEvent', description: 'event `stage`: a stage moved' });
export const JobTaskEventV1 = z
  .object({ stage: z.string(), taskId: z.string(), state: z.string(), progress: z.number().optional() })
  .meta({ id: 'JobTaskEvent', description: 'event `task`: a task started, progressed or ended' });
export const JobTerminalEventV1 = z
  .object({ state: z.string() })
  .loose()
  .meta({ id: 'JobTerminalEvent', description: 'event `terminal`: the last event; the stream closes' });

/** Event kind → data schema (the `log` event carries a {@link JobLogV1}). */
export const JOB_EVENT_DATA = {
  state: JobStateEventV1,
  stage: JobStageEventV1,
  task: JobTaskEventV1,
  log: JobLogV1,
  terminal: JobTerminalEventV1,
} as const;
