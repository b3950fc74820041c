/**
 * The model id a workflow step names: a literal `model_id`, or `$inputs.<name>` resolved with
 * the job's `workflowParameters`, else that input's `default_value` (spec/workflows.md §5.4).
 * Null when the step names no model or the reference does not resolve to a string.
 */
export function resolveStepModelId(
  step: Record<string, unknown>,
  params: Record<string, unknown>,
  inputs: ReadonlyArray<Record<string, unknown>>,
): string | null {
  const v = step.model_id;
  if (typeof v !== 'string') return null;
  if (!v.startsWith('$inputs.')) return v;
  const name = v.slice('$inputs.'.length);
  const resolved = name in params ? params[name] : inputs.find((i) => i.name === name)?.default_value;
  return typeof resolved === 'string' && !resolved.startsWith('$') ? resolved : null;
}
