import type { CompileWarning } from '@visionbatch/engine/workflow/compiler';
import { effectiveDefinition } from '@visionbatch/shared/effective-definition';
import { Errors } from '@visionbatch/shared/errors';
import { assertBatchId, assertJobId, assertPartName } from '@visionbatch/shared/ids';
import { abortJob } from '@visionbatch/shared/job-ending';
import { type JobSnapshot, stageWire, taskWire } from '@visionbatch/shared/jobs-repo';
import {
  issueField,
  ParametersOverrideV1,
  type WorkflowProcessingJob,
  WorkflowProcessingJobV1,
} from '@visionbatch/shared/wire/batch-processing';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { offsetPageToken, optString, pageSizeOf, taskPageToken } from '../http-params.ts';
import { jobMetadata } from '../job-details.ts';
import { submitJob } from '../job-submit.ts';
import { compileForApi, registeredModels } from '../workflow-compile.ts';

type JobParams = { workspace: string; jobId: string };

/** The job definition of a create (or estimate) body, validated by its schema (400 naming the field). */
export function parseDefinition(body: unknown): WorkflowProcessingJob {
  if (body && typeof body === 'object' && (body as { type?: unknown }).type === 'trt-compilation-v1') {
    throw Errors.validation('type', 'unsupported job type trt-compilation-v1');
  }
  const r = WorkflowProcessingJobV1.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw Errors.validation(issueField(issue.path), issue.message);
  }
  return r.data;
}

/**
 * Checks what a job names exists and fits (batch, content type, workflow, models) and answers the
 * snapshot the job will run (the workflow definition and model records as they are now) and the
 * workflow's compile warnings (fields it ignores).
 */
export async function validateAgainstState(
  deps: ApiDeps,
  ws: string,
  def: WorkflowProcessingJob,
): Promise<{ snapshot: JobSnapshot; warnings: CompileWarning[] }> {
  if (def.processingSpecification.workspace !== ws) {
    throw Errors.validation('processingSpecification.workspace', `must be "${ws}", the workspace of the URL`);
  }
  const batchId = assertBatchId(def.jobInput.batchId, 'jobInput.batchId');
  const batch = await deps.batches.get(ws, batchId);
  if (!batch) throw Errors.validation('jobInput.batchId', `batch "${batchId}" does not exist or has expired`);
  const wantContent = def.type === 'simple-image-processing-v1' ? 'images' : 'videos';
  let part = '';
  if (def.jobInput.partName !== undefined) assertPartName(def.jobInput.partName, 'jobInput.partName');
  if (batch.batchType === 'multipart-batch') {
    if (!def.jobInput.partName)
      throw Errors.validation(
        'jobInput.partName',
        `batch "${batchId}" is multipart: name the part to process`,
      );
    const p = (await deps.batches.parts(ws, batchId)).find((x) => x.partName === def.jobInput.partName);
    if (!p)
      throw Errors.validation(
        'jobInput.partName',
        `batch "${batchId}" has no part "${def.jobInput.partName}"`,
      );
    if (p.contentType !== wantContent)
      throw Errors.validation(
        'jobInput.partName',
        `part holds ${p.contentType}, a ${def.type} job needs ${wantContent}`,
      );
    part = p.partName;
  } else {
    if (def.jobInput.partName)
      throw Errors.validation('jobInput.partName', `batch "${batchId}" has no parts`);
    if (batch.contentType !== wantContent)
      throw Errors.validation(
        'jobInput.batchId',
        `batch holds ${batch.contentType}, a ${def.type} job needs ${wantContent}`,
      );
  }
  if ((await deps.batches.count(ws, batchId, part)) === 0)
    throw Errors.validation('jobInput.batchId', `batch "${batchId}" has no files yet`);
  if (def.type === 'simple-video-processing-v1' && def.maxImageFailureRate !== undefined) {
    throw Errors.validation('maxImageFailureRate', 'applies to image jobs only');
  }
  const wfId = def.processingSpecification.workflowId;
  const wf = await deps.registry.getWorkflow(ws, wfId);
  if (!wf)
    throw Errors.validation(
      'processingSpecification.workflowId',
      `workflow "${wfId}" does not exist in workspace "${ws}"`,
    );
  const inputs =
    (wf.definition.inputs as Array<{ type?: string; name?: string; default_value?: unknown }>) ?? [];
  const imageInputs = inputs.filter((i) => i.type === 'WorkflowImage' || i.type === 'InferenceImage');
  if (imageInputs.length !== 1)
    throw Errors.validation(
      'processingSpecification.workflowId',
      `workflow must have exactly one image input, it has ${imageInputs.length}`,
    );
  const wanted = def.processingSpecification.imageInputName;
  if (wanted && wanted !== imageInputs[0].name) {
    throw Errors.validation(
      'processingSpecification.imageInputName',
      `workflow's image input is "${imageInputs[0].name}"`,
    );
  }
  // Every model the workflow names must be registered (literal ids, or $inputs resolved by parameters).
  const params = def.processingSpecification.workflowParameters ?? {};
  const { models, missing } = await registeredModels(ws, wf.definition, deps.registry, params);
  if (missing.length > 0) {
    throw Errors.validation(
      `workflow step "${missing[0].step}".model_id`,
      `model "${missing[0].modelId}" is not registered in workspace "${ws}"`,
    );
  }
  const warnings = compileForApi(wf.definition, models, {
    parameters: params,
    fieldPrefix: 'workflow.',
    unknownModels: 'error',
  });
  return { snapshot: { workflow: wf.definition, models }, warnings };
}

/** Batch Processing routes (spec/batch-api.md §3). */
export function batchProcessingRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const BP = '/batch-processing/v1/external/:workspace';
  const requireJob = async (ws: string, jobId: string) => {
    const rec = await deps.jobs.get(ws, assertJobId(jobId));
    if (!rec) throw Errors.notFound('job', jobId);
    return rec;
  };

  app.get<{ Params: { workspace: string }; Querystring: Record<string, unknown> }>(
    `${BP}/jobs`,
    async (req) => {
      const page = await deps.jobs.list(req.workspace, offsetPageToken(req.query), pageSizeOf(req.query, 10));
      return {
        jobs: await Promise.all(page.items.map((j) => jobMetadata(deps, j))),
        nextPageToken: page.next,
      };
    },
  );

  app.get<{ Params: JobParams }>(`${BP}/jobs/:jobId`, async (req) => ({
    job: await jobMetadata(deps, await requireJob(req.workspace, req.params.jobId)),
  }));

  app.post<{ Params: JobParams; Querystring: Record<string, unknown>; Body: unknown }>(
    `${BP}/jobs/:jobId`,
    async (req) => {
      const jobId = assertJobId(req.params.jobId);
      const def = parseDefinition(req.body);
      const { snapshot, warnings } = await validateAgainstState(deps, req.workspace, def);
      const r = await submitJob(deps, req.log, {
        workspace: req.workspace,
        jobId,
        name: optString(req.query, 'name', 256) ?? jobId,
        definition: def,
        snapshot,
        warnings,
        notification: 'job accepted, waiting for the scheduler',
      });
      if (r === 'different')
        throw Errors.conflict(`job "${jobId}" exists with a different definition`, { jobId });
      return { jobId, status: 'accepted' };
    },
  );

  app.get<{ Params: JobParams }>(`${BP}/jobs/:jobId/stages`, async (req) => {
    await requireJob(req.workspace, req.params.jobId);
    const stages = await deps.jobs.stages(req.workspace, req.params.jobId);
    return { stages: stages.filter((s) => s.tasksNumber >= 1).map(stageWire) };
  });

  app.get<{ Params: JobParams & { stageId: string }; Querystring: Record<string, unknown> }>(
    `${BP}/jobs/:jobId/stages/:stageId/tasks`,
    async (req) => {
      await requireJob(req.workspace, req.params.jobId);
      const stage = await deps.jobs.getStage(req.workspace, req.params.jobId, req.params.stageId);
      if (!stage) throw Errors.notFound('stage', req.params.stageId);
      const page = await deps.jobs.tasks(
        req.workspace,
        req.params.jobId,
        stage.processingStageId,
        taskPageToken(req.query),
        pageSizeOf(req.query, 500),
      );
      return { tasks: page.items.map(taskWire), nextPageToken: page.next };
    },
  );

  // The abort is one fenced move in Redis: the job, its stage and running tasks end together, and
  // machines learn it from their next heartbeat. No scheduler needs to be up for it.
  app.post<{ Params: JobParams }>(`${BP}/jobs/:jobId/abort`, async (req) => {
    const rec = await requireJob(req.workspace, req.params.jobId);
    if (rec.state === 'aborted') return { jobId: rec.jobId, status: 'aborted' };
    if (rec.isTerminal)
      throw Errors.conflict(`job "${rec.jobId}" has already ended (${rec.state})`, { state: rec.state });
    const state = await abortJob(deps.jobs, req.workspace, rec.jobId);
    if (state !== 'aborted')
      throw Errors.conflict(`job "${rec.jobId}" has already ended (${state})`, { state });
    return { jobId: rec.jobId, status: 'abort-requested' };
  });

  app.post<{ Params: JobParams; Body: unknown }>(`${BP}/jobs/:jobId/restart`, async (req) => {
    const rec = await requireJob(req.workspace, req.params.jobId);
    const body =
      req.body === undefined || req.body === null || req.body === ''
        ? { type: 'parameters-override-v1' }
        : req.body;
    const parsed = ParametersOverrideV1.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw Errors.validation(issueField(issue.path), issue.message);
    }
    if (!rec.isTerminal) {
      if (rec.state === 'running' && rec.restartOverrides.length > 0)
        return { jobId: rec.jobId, status: 'restarted' };
      throw Errors.conflict(
        `job "${rec.jobId}" is still running; only failed or aborted jobs can be restarted`,
      );
    }
    if (rec.state === 'succeeded') throw Errors.conflict(`job "${rec.jobId}" succeeded; nothing to restart`);
    // Restart re-runs the same job (the snapshot taken at creation), with the overrides applied.
    const def = effectiveDefinition(rec.definition, [...rec.restartOverrides, parsed.data]);
    const deadlineAt = def.processingTimeoutSeconds
      ? deps.clock.now() + def.processingTimeoutSeconds * 1000
      : null;
    const r = await deps.jobs.restart(req.workspace, rec.jobId, parsed.data, deadlineAt);
    if (!r.ok) throw Errors.conflict(`job "${rec.jobId}" cannot be restarted now (${r.detail ?? r.refusal})`);
    deps.scheduler
      .SubmitJob({ workspace: req.workspace, job_id: rec.jobId })
      .catch((err) =>
        req.log.warn(
          { err, jobId: rec.jobId },
          'scheduler not reachable; it picks the job up on its next tick',
        ),
      );
    return { jobId: rec.jobId, status: 'restarted' };
  });

  app.get<{ Params: JobParams; Querystring: Record<string, unknown> }>(
    `${BP}/jobs/:jobId/logs`,
    async (req) => {
      const rec = await requireJob(req.workspace, req.params.jobId);
      const severity = optString(req.query, 'severity', 16) ?? null;
      if (severity && !['info', 'warning', 'error'].includes(severity))
        throw Errors.validation('severity', 'must be info, warning or error');
      const page = await deps.jobs.logs(
        req.workspace,
        req.params.jobId,
        severity,
        offsetPageToken(req.query),
        pageSizeOf(req.query, 500),
      );
      // droppedLogLines: a visionbatch extension (the log of a job is capped, VB_JOB_LOG_LIMIT)
      return { logs: page.items, nextPageToken: page.next, droppedLogLines: rec.logsDropped };
    },
  );
}
