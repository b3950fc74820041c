import { effectiveDefinition, machineTypeOf, workersPerMachineOf } from '../effective-definition.ts';
import type { JobRecord, JobsRepo } from '../jobs-repo.ts';
import type { SampleMeasurement, TaskTiming } from './predict.ts';

/**
 * Log types a sample job's machines write (only for sample jobs: `JobContext.estimate`), which the
 * estimate reads back: one line per lease with the model loading time, one per processing task with
 * its unit timings.
 */
export const MACHINE_STARTED_LOG = 'machine-started';
export const TASK_TIMING_LOG = 'task-timing';

/** Payload of a {@link MACHINE_STARTED_LOG} line. */
export interface MachineStartedPayload {
  machine: string;
  slots: number;
  modelLoadMs: number;
}

/** Payload of a {@link TASK_TIMING_LOG} line (logged when the task finished). */
export interface TaskTimingPayload extends TaskTiming {
  stage: string;
}

/** Log lines read per round trip (a sample job writes a few dozen). */
const PAGE = 1000;

/**
 * What a finished sample job measured: its machines' start-up and task timings (from its log), the
 * machine time billed to it and its wall time. Null when its machines reported no task timing.
 */
export async function readSampleMeasurement(
  jobs: JobsRepo,
  rec: JobRecord,
): Promise<SampleMeasurement | null> {
  const def = effectiveDefinition(rec.definition, rec.restartOverrides);
  const started: MachineStartedPayload[] = [];
  const timed: Array<{ at: number; t: TaskTimingPayload }> = [];
  let token: string | null = null;
  do {
    const page = await jobs.logs(rec.workspace, rec.jobId, 'info', token, PAGE);
    for (const l of page.items) {
      if (l.logType === MACHINE_STARTED_LOG) started.push(l.payload as unknown as MachineStartedPayload);
      if (l.logType === TASK_TIMING_LOG)
        timed.push({ at: Date.parse(l.createdAt), t: l.payload as unknown as TaskTimingPayload });
    }
    token = page.next;
  } while (token);
  const tasks = timed.filter((x) => x.t.stage === 'processing');
  if (tasks.length === 0) return null;
  const meter = await jobs.meter(rec.workspace, rec.jobId);
  const spanStart = Math.min(...tasks.map((x) => x.at - x.t.taskMs));
  const spanEnd = Math.max(...tasks.map((x) => x.at));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : 0);
  return {
    pool: machineTypeOf(def),
    slotsPerMachine: started.length ? Math.max(1, ...started.map((s) => s.slots)) : workersPerMachineOf(def),
    startupMs: mean(started.map((s) => s.modelLoadMs)),
    tasks: tasks.map((x) => x.t),
    processingSpanMs: Math.max(0, spanEnd - spanStart),
    billedMs: { cpu: meter.cpuMs, gpu: meter.gpuMs },
    wallMs: Math.max(0, (rec.endedAt ?? rec.lastUpdate) - rec.createdAt),
  };
}
