import { z } from 'zod';

/**
 * Cost estimates (`POST /batch-processing/v1/external/{ws}/jobs/estimate`, a visionbatch extension):
 * the body is a job definition (`WorkflowProcessingJobV1`, validated as a job creation is); the query
 * below tunes the answer. The estimate runs a sample of the batch as a job of its own (`est-…`,
 * billed and logged like any job) and extrapolates its measured times to the whole batch.
 */

/** Query of `POST .../jobs/estimate` and `GET .../jobs/{estimateJobId}/estimate`. */
export const EstimateQuery = z.object({
  /** machines to predict the wall time for (default: the pool's maximum, VB_POOL_<POOL>_MAX) */
  machines: z.coerce.number().int().min(1).max(10_000).optional(),
  /** POST only: seconds to wait for the sample job before answering 202 (default and cap: VB_ESTIMATE_WAIT_S) */
  wait: z.coerce.number().min(0).max(86_400).optional(),
});
export type EstimateQuery = z.infer<typeof EstimateQuery>;

/** Seconds of machine time by pool. */
const MachineSeconds = z.object({ cpu: z.number().min(0), gpu: z.number().min(0) });

/** What a job costs: machine time billed, its credits (VB_CPU/GPU_CREDITS_PER_HOUR) and its wall time. */
export const JobCost = z.object({
  machineSeconds: MachineSeconds,
  credits: z.number().min(0),
  wallSeconds: z.number().min(0),
});

/** 200: the estimate. */
export const Estimate = z.object({
  estimateJobId: z.string(),
  status: z.literal('done'),
  jobType: z.enum(['simple-image-processing-v1', 'simple-video-processing-v1']),
  pool: z.enum(['cpu', 'gpu']),
  /** machines the prediction is for */
  machines: z.number().int().min(1),
  /** machines the job would keep busy: no more than its tasks fill */
  machinesUsed: z.number().int().min(1),
  /** task slots each machine ran (what the sample's machine reported) */
  slotsPerMachine: z.number().int().min(1),
  /** what a unit is: an image, or a processed video frame (after maxVideoFPS) */
  unit: z.enum(['image', 'frame']),
  sample: z.object({
    files: z.number().int().min(0),
    units: z.number().int().min(0),
    /** videos: seconds of each sample video run */
    videoSeconds: z.number().nullable(),
  }),
  batch: z.object({
    files: z.number().int().min(0),
    units: z.number().int().min(0),
    /** processing tasks the job would have */
    tasks: z.number().int().min(0),
    /** videos whose frame count was not known (never probed) and was taken as the mean of the others */
    unitsExtrapolatedFiles: z.number().int().min(0),
  }),
  /** one slot's time per unit in the sample: mean, and the spread (fastest, slowest unit) */
  perUnitSeconds: z.object({ mean: z.number(), min: z.number(), max: z.number() }),
  /** fixed start-up of each machine (loading the job's models), apart from the per-unit cost */
  startupSeconds: z.number().min(0),
  /** fixed cost of each task besides its units (fetching, writing results) */
  taskOverheadSeconds: z.number().min(0),
  /** the whole batch on `machines` machines */
  predicted: JobCost,
  /** what the sample job itself cost (it is billed like any job) */
  estimateCost: JobCost,
});
export type Estimate = z.infer<typeof Estimate>;

/** 202: the sample job is still running; ask `GET .../jobs/{estimateJobId}/estimate` later. */
export const EstimatePending = z.object({
  estimateJobId: z.string(),
  status: z.literal('running'),
});
export type EstimatePending = z.infer<typeof EstimatePending>;
