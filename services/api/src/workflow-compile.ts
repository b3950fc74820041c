import { WorkflowCompileError } from '@visionbatch/engine/errors';
import { type CompileWarning, compileWorkflow } from '@visionbatch/engine/workflow/compiler';
import { Errors } from '@visionbatch/shared/errors';
import type { ModelRecord, RegistryRepo } from '@visionbatch/shared/registry-repo';
import { resolveStepModelId } from '@visionbatch/shared/workflow-refs';

/**
 * The registered models a workflow's steps name (literal ids, or `$inputs` parameters resolved by
 * `parameters` and the inputs' defaults), and the steps whose model is not registered.
 */
export async function registeredModels(
  ws: string,
  definition: Record<string, unknown>,
  registry: RegistryRepo,
  parameters: Record<string, unknown> = {},
): Promise<{ models: Record<string, ModelRecord>; missing: Array<{ step: string; modelId: string }> }> {
  const inputs = (definition.inputs as Array<Record<string, unknown>>) ?? [];
  const models: Record<string, ModelRecord> = {};
  const missing: Array<{ step: string; modelId: string }> = [];
  for (const step of (definition.steps as Array<Record<string, unknown>>) ?? []) {
    const id = resolveStepModelId(step, parameters, inputs);
    if (!id || models[id]) continue;
    const m = await registry.getModel(ws, id);
    if (m) models[id] = m;
    else missing.push({ step: String(step.name), modelId: id });
  }
  return { models, missing };
}

/**
 * Compiles a workflow definition with the worker's compiler (blocks, fields, kinds, selectors,
 * dimensionality, model tasks), so a definition that could not run is refused when it is saved and
 * when a job is created, not when a machine picks the job up. The error names the step and field
 * of the first problem and lists every problem (and, for an unknown block, the supported ones).
 * Returns what the definition has that is ignored (unknown step fields), for the caller to report.
 */
export function compileForApi(
  definition: Record<string, unknown>,
  models: Readonly<Record<string, ModelRecord>>,
  opts: { parameters?: Record<string, unknown>; fieldPrefix: string; unknownModels: 'error' | 'allow' },
): CompileWarning[] {
  try {
    return compileWorkflow(definition, {
      models,
      parameters: opts.parameters,
      unknownModels: opts.unknownModels,
    }).warnings;
  } catch (err) {
    if (!(err instanceof WorkflowCompileError)) throw err;
    const first = err.problems[0];
    const where = first?.step
      ? `steps.${first.step}${first.field ? `.${first.field}` : ''}`
      : (first?.field ?? 'definition');
    throw Errors.validation(`${opts.fieldPrefix}${where}`, err.message);
  }
}
