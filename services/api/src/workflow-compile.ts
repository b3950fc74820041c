import { WorkflowCompileError } from '@visionbatch/engine/errors';
import { compileWorkflow } from '@visionbatch/engine/workflow/compiler';
import { Errors } from '@visionbatch/shared/errors';
import type { ModelRecord, RegistryRepo } from '@visionbatch/shared/registry-repo';
import { resolveStepModelId } from '@visionbatch/shared/workflow-refs';

/**
 * Compiles a workflow definition with the worker's own compiler (blocks, fields, kinds, selectors,
 * dimensionality, model tasks), so a definition that could not run is refused when it is saved and
 * when a job is created, not when a machine picks the job up. The error names the step and field
 * of the first problem and lists every problem (and, for an unknown block, the supported ones).
 */
export async function compileForApi(
  ws: string,
  definition: Record<string, unknown>,
  registry: RegistryRepo,
  opts: { parameters?: Record<string, unknown>; fieldPrefix: string; unknownModels: 'error' | 'allow' },
): Promise<void> {
  const inputs = (definition.inputs as Array<Record<string, unknown>>) ?? [];
  const models: Record<string, ModelRecord> = {};
  for (const step of (definition.steps as Array<Record<string, unknown>>) ?? []) {
    const id = resolveStepModelId(step, opts.parameters ?? {}, inputs);
    if (!id || models[id]) continue;
    const m = await registry.getModel(ws, id);
    if (m) models[id] = m;
  }
  try {
    compileWorkflow(definition, { models, parameters: opts.parameters, unknownModels: opts.unknownModels });
  } catch (err) {
    if (!(err instanceof WorkflowCompileError)) throw err;
    const first = err.problems[0];
    const where = first?.step
      ? `steps.${first.step}${first.field ? `.${first.field}` : ''}`
      : (first?.field ?? 'definition');
    throw Errors.validation(`${opts.fieldPrefix}${where}`, err.message);
  }
}
