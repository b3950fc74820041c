import { effectiveDefinition, machineTypeOf } from '@visionbatch/shared/effective-definition';
import type { JobRecord, JobSnapshot } from '@visionbatch/shared/jobs-repo';
import type { JobContext } from '@visionbatch/shared/tasks';

/**
 * What a machine needs to run the job: the workflow and model records of the job's snapshot (taken
 * at creation, so registry edits never change a running or restarted job) and its settings.
 */
export function buildJobContext(rec: JobRecord, snapshot: JobSnapshot | null): JobContext {
  if (!snapshot) throw new Error(`job "${rec.jobId}" has no snapshot of its workflow and models`);
  const def = effectiveDefinition(rec.definition, rec.restartOverrides);
  const spec = def.processingSpecification;
  return {
    workspace: rec.workspace,
    jobId: rec.jobId,
    jobType: def.type,
    workflow: snapshot.workflow,
    models: snapshot.models,
    workflowParameters: spec.workflowParameters ?? {},
    imageInputName: spec.imageInputName ?? null,
    aggregationFormat: spec.aggregationFormat ?? 'jsonl',
    persistImagesOutputs: spec.persistImagesOutputs ?? false,
    imagesOutputsToBePersisted: spec.imagesOutputsToBePersisted ?? null,
    maxVideoFPS: spec.maxVideoFPS ?? null,
    maxImageFailureRate: def.maxImageFailureRate ?? null,
    machineType: machineTypeOf(def),
    ...(rec.sample ? { estimate: true } : {}),
  };
}
