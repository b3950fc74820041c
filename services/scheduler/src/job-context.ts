import type { JobRecord } from '@visionbatch/shared/jobs-repo';
import type { ModelRecord, RegistryRepo } from '@visionbatch/shared/registry-repo';
import type { JobContext } from '@visionbatch/shared/tasks';
import { resolveStepModelId } from '@visionbatch/shared/workflow-refs';
import { effectiveDefinition, machineTypeOf } from './effective-definition.ts';

/** Builds what a machine needs to run the job: workflow, resolved models, processing settings. */
export async function buildJobContext(rec: JobRecord, registry: RegistryRepo): Promise<JobContext> {
  const def = effectiveDefinition(rec.definition, rec.restartOverrides);
  const spec = def.processingSpecification;
  const wf = await registry.getWorkflow(rec.workspace, spec.workflowId);
  if (!wf) throw new Error(`workflow "${spec.workflowId}" no longer exists`);
  const params = spec.workflowParameters ?? {};
  const inputs = (wf.definition.inputs as Array<Record<string, unknown>>) ?? [];
  const models: Record<string, ModelRecord> = {};
  for (const step of (wf.definition.steps as Array<Record<string, unknown>>) ?? []) {
    const id = resolveStepModelId(step, params, inputs);
    if (!id || models[id]) continue;
    const m = await registry.getModel(rec.workspace, id);
    if (!m) throw new Error(`model "${id}" (step ${String(step.name)}) is not registered`);
    models[id] = m;
  }
  return {
    workspace: rec.workspace,
    jobId: rec.jobId,
    jobType: def.type,
    workflow: wf.definition,
    models,
    workflowParameters: params,
    imageInputName: spec.imageInputName ?? null,
    aggregationFormat: spec.aggregationFormat ?? 'jsonl',
    persistImagesOutputs: spec.persistImagesOutputs ?? false,
    imagesOutputsToBePersisted: spec.imagesOutputsToBePersisted ?? null,
    maxVideoFPS: spec.maxVideoFPS ?? null,
    maxImageFailureRate: def.maxImageFailureRate ?? null,
    machineType: machineTypeOf(def),
  };
}
