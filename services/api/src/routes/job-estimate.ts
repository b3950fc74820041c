import { randomInt } from 'node:crypto';
import { isStatefulDefinition } from '@visionbatch/engine/workflow/compiler';
import {
  effectiveDefinition,
  machineTypeOf,
  workersPerMachineOf,
} from '@visionbatch/shared/effective-definition';
import { Errors } from '@visionbatch/shared/errors';
import { readSampleMeasurement } from '@visionbatch/shared/estimate/measure';
import { creditsOf, predictJob } from '@visionbatch/shared/estimate/predict';
import { assertJobId } from '@visionbatch/shared/ids';
import type { JobRecord } from '@visionbatch/shared/jobs-repo';
import { keys } from '@visionbatch/shared/redis-keys';
import { issueField, type WorkflowProcessingJob } from '@visionbatch/shared/wire/batch-processing';
import { type Estimate, type EstimatePending, EstimateQuery } from '@visionbatch/shared/wire/job-estimate';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { imageTasks, type JobPlan, videoJobPlan } from '../estimate/job-plan.ts';
import { chooseSample } from '../estimate/sample-choice.ts';
import { submitJob } from '../job-submit.ts';
import { parseDefinition, validateAgainstState } from './batch-processing.ts';

type JobParams = { workspace: string; jobId: string };

/** How often a waiting estimate looks at its sample job. */
const SETTLE_POLL_MS = 250;

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** `est-` and 12 random characters (16 of the 20 a job id may have). */
const estimateJobId = () =>
  `est-${Array.from({ length: 12 }, () => ID_ALPHABET[randomInt(ID_ALPHABET.length)]).join('')}`;

function parseQuery(query: unknown): EstimateQuery {
  const r = EstimateQuery.safeParse(query ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw Errors.validation(issueField(issue.path), issue.message);
  }
  return r.data;
}

/**
 * Cost estimates (a visionbatch extension). `POST .../jobs/estimate` takes a job creation's body,
 * validated as a creation is, and runs a sample of the batch (a few images spread over it, or the
 * first seconds of one video) as a job of its own, `est-…`, on one machine of the job's pool: it is
 * planned, leased, metered, billed and logged like any job. Its machine reports its model loading
 * time and the time of each unit; the answer extrapolates them to the whole batch
 * (shared/estimate/predict.ts). The answer waits for the sample job up to VB_ESTIMATE_WAIT_S (or
 * `?wait=`), then says 202 with the job's id: `GET .../jobs/{estimateJobId}/estimate` answers 202
 * while it runs and the estimate once it is done.
 */
export function jobEstimateRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const BP = '/batch-processing/v1/external/:workspace';

  /** Machines a prediction is for by default: what the pool may grow to, or a static pool's live machines. */
  const defaultMachines = async (pool: 'cpu' | 'gpu'): Promise<number> => {
    if (deps.config.autoscaler.actuator !== 'static')
      return Math.max(1, deps.config.autoscaler.pools[pool].max);
    const live = await deps.redis.zcount(
      keys.poolMachines(pool),
      deps.clock.now() - deps.config.leaseTtlMs,
      '+inf',
    );
    return Math.max(1, live);
  };

  /** The whole job's processing tasks (units each), as the planner would make them on `machines` machines. */
  const plan = async (rec: JobRecord, def: WorkflowProcessingJob, machines: number): Promise<JobPlan> => {
    const input = { batchId: def.jobInput.batchId, part: def.jobInput.partName ?? '' };
    if (def.type === 'simple-image-processing-v1') {
      const files = await deps.batches.count(rec.workspace, input.batchId, input.part);
      const taskUnits = imageTasks({
        files,
        workersPerMachine: workersPerMachineOf(def),
        machines,
        maxParallelTasks: rec.sample?.maxParallelTasks ?? null,
        maxImagesPerTask: deps.config.limits.imagesPerTask,
      });
      return { files, taskUnits, extrapolatedFiles: 0 };
    }
    const snapshot = await deps.jobs.snapshot(rec.workspace, rec.jobId);
    return videoJobPlan(deps.batches, rec.workspace, input, {
      maxFps: def.processingSpecification.maxVideoFPS ?? null,
      segmentSeconds: deps.config.limits.videoSegmentSeconds,
      split: !!snapshot && !isStatefulDefinition(snapshot.workflow),
    });
  };

  /** The estimate of a sample job that succeeded and whose leases are all closed (billed). */
  const answer = async (rec: JobRecord, machinesAsked: number | undefined): Promise<Estimate> => {
    const def = effectiveDefinition(rec.definition, rec.restartOverrides);
    const m = await readSampleMeasurement(deps.jobs, rec);
    if (!m) throw Errors.estimateFailed(rec.jobId, 'its machines reported no task timings');
    const pool = machineTypeOf(def);
    const wpm = workersPerMachineOf(def);
    let machines = machinesAsked ?? (await defaultMachines(pool));
    const maxParallel = rec.sample?.maxParallelTasks ?? null;
    if (maxParallel) machines = Math.min(machines, Math.max(1, Math.ceil(maxParallel / wpm)));
    const whole = await plan(rec, def, machines);
    const credits = deps.config.scheduler.creditsPerHour;
    const p = predictJob(m, whole.taskUnits, machines, credits);
    const s = (ms: number) => Math.round(ms) / 1000;
    return {
      estimateJobId: rec.jobId,
      status: 'done',
      jobType: def.type,
      pool,
      machines,
      machinesUsed: p.machinesUsed,
      slotsPerMachine: m.slotsPerMachine,
      unit: def.type === 'simple-video-processing-v1' ? 'frame' : 'image',
      sample: {
        files: rec.sample?.files.length ?? 0,
        units: m.tasks.reduce((a, t) => a + t.units, 0),
        videoSeconds: rec.sample?.videoSeconds ?? null,
      },
      batch: {
        files: whole.files,
        units: p.units,
        tasks: p.tasks,
        unitsExtrapolatedFiles: whole.extrapolatedFiles,
      },
      perUnitSeconds: { mean: s(p.perUnitMs.mean), min: s(p.perUnitMs.min), max: s(p.perUnitMs.max) },
      startupSeconds: s(p.startupMs),
      taskOverheadSeconds: s(p.taskOverheadMs),
      predicted: {
        machineSeconds: { cpu: s(p.machineMs.cpu), gpu: s(p.machineMs.gpu) },
        credits: p.credits,
        wallSeconds: s(p.wallMs),
      },
      estimateCost: {
        machineSeconds: { cpu: s(m.billedMs.cpu), gpu: s(m.billedMs.gpu) },
        credits: creditsOf(m.billedMs.cpu, 'cpu', credits) + creditsOf(m.billedMs.gpu, 'gpu', credits),
        wallSeconds: s(m.wallMs),
      },
    };
  };

  /** The sample job once it ended and every lease on it closed, or null at the deadline. */
  const settled = async (ws: string, jobId: string, deadline: number, gone: () => boolean) => {
    for (;;) {
      const rec = await deps.jobs.get(ws, jobId);
      if (!rec) throw Errors.notFound('job', jobId);
      if (rec.isTerminal && (await deps.redis.scard(keys.jobLeases(ws, jobId))) === 0) return rec;
      const left = deadline - deps.clock.now();
      if (left <= 0 || gone()) return null;
      // a few reads of two keys a second, for one request: simpler than a stream, which lease closes skip
      await new Promise((r) => setTimeout(r, Math.min(SETTLE_POLL_MS, left)));
    }
  };

  const respond = async (rec: JobRecord | null, jobId: string, machines: number | undefined) => {
    if (!rec)
      return { status: 202, body: { estimateJobId: jobId, status: 'running' } satisfies EstimatePending };
    if (rec.state !== 'succeeded')
      throw Errors.estimateFailed(
        rec.jobId,
        typeof rec.lastNotification === 'string' ? rec.lastNotification : `it ended ${rec.state}`,
      );
    return { status: 200, body: await answer(rec, machines) };
  };

  app.post<{ Params: { workspace: string }; Querystring: Record<string, unknown>; Body: unknown }>(
    `${BP}/jobs/estimate`,
    async (req, reply) => {
      const ws = req.workspace;
      const query = parseQuery(req.query);
      const def = parseDefinition(req.body);
      const { snapshot, warnings } = await validateAgainstState(deps, ws, def);
      const input = { batchId: def.jobInput.batchId, part: def.jobInput.partName ?? '' };
      const total = await deps.batches.count(ws, input.batchId, input.part);
      const wpm = workersPerMachineOf(def);
      const sample = await chooseSample(deps.redis, ws, input, {
        video: def.type === 'simple-video-processing-v1',
        files: deps.config.estimate.sampleFiles,
        total,
        videoSeconds: deps.config.estimate.sampleVideoSeconds,
        maxParallelTasks: def.maxParallelTasks ?? null,
      });
      // One machine (a cap of wpm parallel tasks is one lease), no webhook, a bounded budget.
      const { notificationsURL: _hook, ...rest } = def;
      const sampleDef: WorkflowProcessingJob = {
        ...rest,
        maxParallelTasks: Math.min(def.maxParallelTasks ?? wpm, wpm),
        processingTimeoutSeconds: deps.config.estimate.jobTimeoutS,
      };
      const jobId = assertJobId(estimateJobId());
      const now = deps.clock.now();
      await submitJob(deps, req.log, {
        workspace: ws,
        jobId,
        name: `estimate of ${input.batchId}${input.part ? `/${input.part}` : ''}`,
        definition: sampleDef,
        snapshot,
        warnings,
        notification: 'estimate sample accepted, waiting for the scheduler',
        sample,
      });
      const waitMs = Math.min(deps.config.estimate.waitMs, (query.wait ?? Number.POSITIVE_INFINITY) * 1000);
      // a client that went away stops the wait (the sample job runs on; GET .../estimate answers later)
      let gone = false;
      reply.raw.once('close', () => {
        gone = !reply.raw.writableEnded;
      });
      const rec = await settled(ws, jobId, now + waitMs, () => gone);
      const r = await respond(rec, jobId, query.machines);
      if (r.status === 202)
        reply.header(
          'location',
          `${deps.config.api.mountPrefix}/batch-processing/v1/external/${ws}/jobs/${jobId}/estimate`,
        );
      return reply.code(r.status).send(r.body);
    },
  );

  app.get<{ Params: JobParams; Querystring: Record<string, unknown> }>(
    `${BP}/jobs/:jobId/estimate`,
    async (req, reply) => {
      const ws = req.workspace;
      const jobId = assertJobId(req.params.jobId);
      const query = parseQuery(req.query);
      const rec = await deps.jobs.get(ws, jobId);
      if (!rec?.sample) throw Errors.notFound('estimate', jobId);
      const done = await settled(ws, jobId, deps.clock.now(), () => true);
      const r = await respond(done, jobId, query.machines);
      return reply.code(r.status).send(r.body);
    },
  );
}
