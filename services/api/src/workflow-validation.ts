import { Errors } from '@visionbatch/shared/errors';

/**
 * Structural checks of a workflow definition at save time: envelope, unique names, selectors
 * that point at declared inputs and steps. The worker's compiler checks blocks and kinds.
 */
export async function validateWorkflowDefinition(_ws: string, def: Record<string, unknown>): Promise<void> {
  const version = def.version ?? '1.0';
  if (typeof version !== 'string' || !/^1(\.\d+){0,2}$/.test(version))
    throw Errors.validation('version', 'only 1.x workflow definitions are supported');
  const names = (arr: unknown[], what: string) => {
    const seen = new Set<string>();
    for (const [i, x] of arr.entries()) {
      const n = (x as { name?: unknown })?.name;
      if (typeof n !== 'string' || !/^[A-Za-z0-9_-]+$/.test(n))
        throw Errors.validation(`${what}[${i}].name`, 'must match [A-Za-z0-9_-]+');
      if (seen.has(n)) throw Errors.validation(`${what}[${i}].name`, `duplicate name "${n}"`);
      seen.add(n);
    }
    return seen;
  };
  const inputs = names(def.inputs as unknown[], 'inputs');
  const steps = names(def.steps as unknown[], 'steps');
  names(def.outputs as unknown[], 'outputs');
  const check = (v: unknown, where: string) => {
    if (typeof v !== 'string') return;
    const mi = /^\$inputs\.(.+)$/.exec(v);
    if (mi && !inputs.has(mi[1])) throw Errors.validation(where, `selector ${v} names no declared input`);
    const ms = /^\$steps\.([^.]+)/.exec(v);
    if (ms && !steps.has(ms[1])) throw Errors.validation(where, `selector ${v} names no step`);
  };
  for (const s of def.steps as Array<Record<string, unknown>>) {
    for (const [field, v] of Object.entries(s)) {
      if (Array.isArray(v)) {
        for (const [i, x] of v.entries()) check(x, `steps.${String(s.name)}.${field}[${i}]`);
      } else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) check(x, `steps.${String(s.name)}.${field}.${k}`);
      else check(v, `steps.${String(s.name)}.${field}`);
    }
  }
  for (const o of def.outputs as Array<Record<string, unknown>>)
    check(o.selector, `outputs.${String(o.name)}.selector`);
}
