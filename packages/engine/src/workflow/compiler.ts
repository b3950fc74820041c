import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { closestName } from '../closest-name.ts';
import { type CompileProblem, WorkflowCompileError } from '../errors.ts';
import { type BlockDef, type FieldSpec, Kind } from './block.ts';
import { blockFor, isPlannedType, isStatefulType, supportedTypes } from './registry.ts';
import { looksLikeSelector, NAME_RE, parseSelector, type Selector } from './selectors.ts';
import { checkOperations, checkStatement, operandNames, UqlError } from './uql.ts';

/**
 * The workflow compiler (spec/workflows.md §1): parses a definition against the blocks this worker
 * runs, resolves every selector, orders the steps, works out each step's dimensionality and data
 * lineage (§1.7, §1.10), checks kinds, flow control and model ids. Every error names the step
 * (or input/output) and field.
 */

/** A field's value after parsing. */
export type FieldValue =
  | { kind: 'literal'; value: unknown }
  | { kind: 'selector'; selector: Selector }
  | { kind: 'map'; entries: Record<string, FieldValue> }
  | { kind: 'steps'; steps: string[] };

/**
 * Where a value lives: `level` 0 is a scalar; level 1 is per input image; each dimensionality
 * +1 step adds a level. `lineage` names the batch the indices come from (the input, then each
 * raising step).
 */
export interface Shape {
  level: number;
  lineage: readonly string[];
}

export const SCALAR: Shape = { level: 0, lineage: [] };
/** lineage id of the workflow's input batch */
export const INPUT_LINEAGE = '$inputs';

export interface CompiledInput {
  name: string;
  type: 'image' | 'parameter' | 'video_metadata';
  defaultValue: unknown;
  kinds: string[];
}

export interface CompiledStep {
  name: string;
  type: string;
  block: BlockDef;
  fields: Record<string, FieldValue>;
  /** shape of the elements it runs over (level 0: runs once) */
  inputShape: Shape;
  /** shape of its outputs (input shape, one level deeper for Dynamic Crop) */
  outputShape: Shape;
  /** Continue If steps that list this step in `next_steps` */
  gates: string[];
}

export interface CompiledOutput {
  name: string;
  selector: Selector;
  coordinatesSystem: 'parent' | 'own';
  shape: Shape;
}

export interface CompiledWorkflow {
  version: string;
  inputs: CompiledInput[];
  /** in execution order */
  steps: CompiledStep[];
  outputs: CompiledOutput[];
  /** contains a block that keeps state across frames: never split a video of this workflow */
  stateful: boolean;
  /** names of image inputs */
  imageInputs: string[];
  /** image inputs whose full pixels a block reads (decode them fully up front) */
  pixelInputs: string[];
  /** every model id the workflow can use (literal, or resolved from parameters) */
  modelIds: string[];
  models: Readonly<Record<string, ModelRecord>>;
  /** what the definition has that this compiler ignores (unknown step fields) */
  warnings: CompileWarning[];
}

/**
 * Something a definition says that has no effect. Roboflow ignores unknown step fields; so do we,
 * but we say so, since a misspelt field (`iou` for `iou_threshold`) silently keeps its default.
 */
export interface CompileWarning {
  step: string;
  field: string;
  message: string;
}

export interface CompileOptions {
  /** registry records by the model id workflows use */
  models: Readonly<Record<string, ModelRecord>>;
  /** job parameters, to resolve `model_id: "$inputs.x"` at compile time when known */
  parameters?: Readonly<Record<string, unknown>>;
  /**
   * `allow` when saving a workflow: a model id missing from `models` may be registered later (it
   * is checked again when a job is created); a registered one must still fit its step.
   */
  unknownModels?: 'error' | 'allow';
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const INPUT_TYPES: Record<string, CompiledInput['type']> = {
  WorkflowImage: 'image',
  InferenceImage: 'image',
  WorkflowParameter: 'parameter',
  InferenceParameter: 'parameter',
  WorkflowVideoMetadata: 'video_metadata',
};

function kindNames(v: unknown): string[] | null {
  if (v === undefined) return null;
  if (!Array.isArray(v)) return null;
  return v.map((k) => (isObj(k) && typeof k.name === 'string' ? k.name : String(k)));
}

function kindsCompatible(accepted: readonly string[] | undefined, produced: readonly string[]): boolean {
  if (
    !accepted ||
    accepted.length === 0 ||
    accepted.includes(Kind.wildcard) ||
    produced.includes(Kind.wildcard)
  )
    return true;
  return produced.some((k) => accepted.includes(k));
}

const sameLineage = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
const isPrefix = (p: readonly string[], of: readonly string[]) =>
  p.length <= of.length && p.every((x, i) => x === of[i]);

/** Collects problems; throws them together where going on makes no sense. */
class Problems {
  readonly list: CompileProblem[] = [];
  /** returns null, so parsers can `return problems.add(...)` */
  add(p: CompileProblem): null {
    this.list.push(p);
    return null;
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw new WorkflowCompileError(this.list);
  }
}

function parseVersion(def: Record<string, unknown>, problems: Problems): string {
  const raw = def.version ?? '1.0';
  if (typeof raw !== 'string' || !/^\d+(\.\d+){0,2}$/.test(raw)) {
    problems.add({
      field: 'version',
      message: `"version" must be a version string such as "1.0", got ${JSON.stringify(raw)}`,
    });
    return '1.0';
  }
  if (raw.split('.')[0] !== '1')
    problems.add({
      field: 'version',
      message: `version ${raw} is not supported: this worker runs Execution Engine 1.x definitions`,
    });
  return raw;
}

function parseInputs(raw: unknown, problems: Problems): CompiledInput[] {
  if (!Array.isArray(raw)) {
    problems.add({ field: 'inputs', message: '"inputs" must be a list' });
    return [];
  }
  const seen = new Set<string>();
  const inputs: CompiledInput[] = [];
  const parseOne = (inp: unknown, i: number): null | undefined => {
    const where = isObj(inp) && typeof inp.name === 'string' ? inp.name : `inputs[${i}]`;
    if (!isObj(inp)) return problems.add({ step: where, message: 'an input must be an object' });
    const type = INPUT_TYPES[inp.type as string];
    if (!type) {
      return problems.add({
        step: where,
        field: 'type',
        message: `input type ${JSON.stringify(inp.type)} is not supported (supported: ${Object.keys(INPUT_TYPES).join(', ')})`,
      });
    }
    if (typeof inp.name !== 'string' || !NAME_RE.test(inp.name))
      return problems.add({ step: where, field: 'name', message: 'an input name must match [A-Za-z0-9_-]+' });
    if (seen.has(inp.name))
      return problems.add({ step: inp.name, field: 'name', message: 'duplicate input name' });
    seen.add(inp.name);
    const kinds =
      kindNames(inp.kind) ??
      (type === 'image' ? [Kind.image] : type === 'video_metadata' ? [Kind.videoMetadata] : [Kind.wildcard]);
    inputs.push({ name: inp.name, type, defaultValue: inp.default_value ?? null, kinds });
  };
  for (const [i, inp] of raw.entries()) parseOne(inp, i);
  return inputs;
}

interface RawStep {
  name: string;
  type: string;
  block: BlockDef;
  raw: Record<string, unknown>;
}

function parseSteps(raw: unknown, problems: Problems): RawStep[] {
  if (!Array.isArray(raw)) {
    problems.add({ field: 'steps', message: '"steps" must be a list' });
    return [];
  }
  const seen = new Set<string>();
  const steps: RawStep[] = [];
  const unsupported: string[] = [];
  const planned: string[] = [];
  const parseOne = (st: unknown, i: number): null | undefined => {
    const where = isObj(st) && typeof st.name === 'string' ? st.name : `steps[${i}]`;
    if (!isObj(st)) return problems.add({ step: where, message: 'a step must be an object' });
    if (typeof st.name !== 'string' || !NAME_RE.test(st.name))
      return problems.add({ step: where, field: 'name', message: 'a step name must match [A-Za-z0-9_-]+' });
    if (seen.has(st.name))
      return problems.add({ step: st.name, field: 'name', message: 'duplicate step name' });
    seen.add(st.name);
    if (typeof st.type !== 'string')
      return problems.add({ step: st.name, field: 'type', message: 'a step needs a "type"' });
    const block = blockFor(st.type);
    if (!block) {
      if (isPlannedType(st.type)) planned.push(`"${st.name}" (${st.type})`);
      else unsupported.push(`"${st.name}" (${st.type})`);
      return;
    }
    steps.push({ name: st.name, type: st.type, block, raw: st });
  };
  for (const [i, st] of raw.entries()) parseOne(st, i);
  if (planned.length > 0)
    problems.add({
      field: 'steps',
      message: `blocks not implemented on this worker yet: ${planned.join(', ')}`,
    });
  if (unsupported.length > 0) {
    problems.add({
      field: 'steps',
      message: `unsupported block types: ${unsupported.join(', ')}; supported types: ${supportedTypes().join(', ')}`,
    });
  }
  return steps;
}

function parseField(step: string, spec: FieldSpec, value: unknown, problems: Problems): FieldValue | null {
  const bad = (message: string) => {
    problems.add({ step, field: spec.name, message });
    return null;
  };
  const selector = (v: unknown): FieldValue | null => {
    if (!looksLikeSelector(v)) return null;
    const s = parseSelector(v);
    if (!s) return bad(`malformed selector ${JSON.stringify(v)}`);
    return { kind: 'selector', selector: s };
  };
  switch (spec.role) {
    case 'data': {
      const s = selector(value);
      if (s) return s;
      return bad(
        `must be a selector such as "$inputs.image" or "$steps.<step>.<output>", got ${JSON.stringify(value)}`,
      );
    }
    case 'param': {
      if (looksLikeSelector(value)) return selector(value);
      const problem = spec.check?.(value);
      if (problem) return bad(problem);
      return { kind: 'literal', value };
    }
    case 'selector-map': {
      if (!isObj(value)) return bad('must be an object of name → selector');
      const entries: Record<string, FieldValue> = {};
      for (const [k, v] of Object.entries(value)) {
        if (k === '_') return bad('the parameter name "_" is reserved');
        const s = looksLikeSelector(v) ? selector(v) : { kind: 'literal' as const, value: v };
        if (!s) return null;
        entries[k] = s;
      }
      return { kind: 'map', entries };
    }
    case 'steps': {
      if (!Array.isArray(value)) return bad('must be a list of step selectors ("$steps.<name>")');
      const names: string[] = [];
      for (const v of value) {
        const s = typeof v === 'string' ? parseSelector(v) : null;
        if (s?.kind !== 'step') return bad(`${JSON.stringify(v)} is not a step selector ("$steps.<name>")`);
        names.push(s.step);
      }
      return { kind: 'steps', steps: names };
    }
    case 'operations':
      try {
        checkOperations(value, spec.name);
      } catch (e) {
        return bad(e instanceof UqlError ? e.message : String(e));
      }
      return { kind: 'literal', value };
    case 'statement':
      try {
        checkStatement(value, spec.name);
      } catch (e) {
        return bad(e instanceof UqlError ? e.message : String(e));
      }
      return { kind: 'literal', value };
  }
}

/** Keys of a step that are not fields of its block, with the closest field name. */
function unknownFieldWarnings(step: RawStep): CompileWarning[] {
  const fieldNames = step.block.fields.flatMap((f) => [f.name, ...(f.aliases ?? [])]);
  // `api_key` is a Roboflow platform field, accepted anywhere and ignored (spec §5.4).
  const known = new Set(['name', 'type', 'api_key', ...fieldNames]);
  return Object.keys(step.raw)
    .filter((k) => !known.has(k))
    .map((field) => {
      const near = closestName(
        field,
        step.block.fields.map((f) => f.name),
      );
      return {
        step: step.name,
        field,
        message: `"${field}" is not a field of ${step.type}${near ? `; did you mean "${near}"?` : ''}`,
      };
    });
}

function parseStepFields(step: RawStep, problems: Problems): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = {};
  for (const spec of step.block.fields) {
    const names = [spec.name, ...(spec.aliases ?? [])];
    const present = names.filter((n) => step.raw[n] !== undefined);
    if (present.length > 1) {
      problems.add({
        step: step.name,
        field: spec.name,
        message: `give only one of ${present.map((n) => `"${n}"`).join(', ')}`,
      });
      continue;
    }
    if (present.length === 0) {
      if (spec.required)
        problems.add({ step: step.name, field: spec.name, message: 'required field is missing' });
      else fields[spec.name] = { kind: 'literal', value: spec.default };
      continue;
    }
    const v = parseField(step.name, spec, step.raw[present[0]], problems);
    if (v) fields[spec.name] = v;
  }
  return fields;
}

/**
 * Query-language operands must name a parameter the step defines (its `operations_parameters` /
 * `evaluation_parameters`), or `_` (the value under test).
 */
function checkOperandNames(step: RawStep, fields: Record<string, FieldValue>, problems: Problems): void {
  const mapField = step.block.fields.find((f) => f.role === 'selector-map');
  const map = mapField ? fields[mapField.name] : undefined;
  const defined = new Set(map?.kind === 'map' ? Object.keys(map.entries) : []);
  for (const spec of step.block.fields) {
    if (spec.role !== 'operations' && spec.role !== 'statement') continue;
    const v = fields[spec.name];
    if (v?.kind !== 'literal') continue;
    for (const name of operandNames(v.value)) {
      if (name !== '_' && !defined.has(name)) {
        problems.add({
          step: step.name,
          field: spec.name,
          message: mapField
            ? `operand "${name}" is not defined in "${mapField.name}"`
            : `operand "${name}" is not defined (only "_" is available here)`,
        });
      }
    }
  }
}

/** Every selector inside a field value, with the field's name. */
function* selectorsOf(fields: Record<string, FieldValue>): Generator<{ field: string; selector: Selector }> {
  for (const [field, v] of Object.entries(fields)) {
    if (v.kind === 'selector') yield { field, selector: v.selector };
    else if (v.kind === 'map') {
      for (const [k, e] of Object.entries(v.entries))
        if (e.kind === 'selector') yield { field: `${field}.${k}`, selector: e.selector };
    }
  }
}

/** Finds one cycle among `nodes` (edges: dependency lists) for the error message. */
function findCycle(nodes: string[], deps: Map<string, Set<string>>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      if (state.get(d) === 'open') return [...stack.slice(stack.indexOf(d)), d];
      if (!state.has(d)) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of nodes) {
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c.reverse();
    }
  }
  return nodes;
}

/**
 * Compiles a bare definition (spec §1.1).
 * @throws WorkflowCompileError naming the step and field of every problem found
 */
export function compileWorkflow(definition: unknown, opts: CompileOptions): CompiledWorkflow {
  const problems = new Problems();
  if (!isObj(definition))
    throw new WorkflowCompileError({ message: 'a workflow definition must be a JSON object' });
  const version = parseVersion(definition, problems);
  const inputs = parseInputs(definition.inputs, problems);
  const rawSteps = parseSteps(definition.steps, problems);
  if (!Array.isArray(definition.outputs))
    problems.add({ field: 'outputs', message: '"outputs" must be a list' });
  problems.throwIfAny();

  const inputByName = new Map(inputs.map((i) => [i.name, i]));
  const stepByName = new Map(rawSteps.map((s) => [s.name, s]));
  const stepFields = new Map(rawSteps.map((s) => [s.name, parseStepFields(s, problems)]));
  problems.throwIfAny();
  for (const s of rawSteps)
    checkOperandNames(s, stepFields.get(s.name) as Record<string, FieldValue>, problems);
  problems.throwIfAny();

  // References and the dependency graph --------------------------------------------------------
  const deps = new Map<string, Set<string>>(rawSteps.map((s) => [s.name, new Set<string>()]));
  const gates = new Map<string, string[]>(rawSteps.map((s) => [s.name, []]));
  for (const s of rawSteps) {
    const fields = stepFields.get(s.name) as Record<string, FieldValue>;
    for (const { field, selector } of selectorsOf(fields)) {
      if (selector.kind === 'input') {
        if (!inputByName.has(selector.name))
          problems.add({ step: s.name, field, message: `refers to the undefined input "${selector.name}"` });
      } else if (selector.kind === 'step') {
        problems.add({
          step: s.name,
          field,
          message: `"${selector.raw}" names a step, not one of its outputs ("$steps.<step>.<output>")`,
        });
      } else {
        const target = stepByName.get(selector.step);
        if (!target)
          problems.add({ step: s.name, field, message: `refers to the undefined step "${selector.step}"` });
        else if (selector.output !== '*' && !target.block.outputs.some((o) => o.name === selector.output)) {
          problems.add({
            step: s.name,
            field,
            message: `step "${selector.step}" has no output "${selector.output}" (outputs: ${target.block.outputs.map((o) => o.name).join(', ') || 'none'})`,
          });
        } else if (selector.step === s.name)
          problems.add({ step: s.name, field, message: 'a step cannot use its own output' });
        else (deps.get(s.name) as Set<string>).add(selector.step);
      }
    }
    for (const [field, v] of Object.entries(fields)) {
      if (v.kind !== 'steps') continue;
      for (const target of v.steps) {
        if (!stepByName.has(target))
          problems.add({ step: s.name, field, message: `refers to the undefined step "${target}"` });
        else if (target === s.name)
          problems.add({ step: s.name, field, message: 'a step cannot gate itself' });
        else {
          deps.get(target)?.add(s.name);
          gates.get(target)?.push(s.name);
        }
      }
    }
  }
  problems.throwIfAny();

  // Topological order (Kahn), stable in definition order ----------------------------------------
  const order: string[] = [];
  const remaining = new Map([...deps].map(([k, v]) => [k, new Set(v)]));
  while (remaining.size > 0) {
    const ready = [...remaining.keys()].filter((k) => (remaining.get(k) as Set<string>).size === 0);
    if (ready.length === 0) {
      const cycle = findCycle([...remaining.keys()], remaining);
      throw new WorkflowCompileError({
        step: cycle[0],
        message: `the steps form a cycle: ${cycle.join(' -> ')}`,
      });
    }
    for (const r of ready) {
      order.push(r);
      remaining.delete(r);
      for (const v of remaining.values()) v.delete(r);
    }
  }

  // Shapes (dimensionality and lineage) and kinds ------------------------------------------------
  const shapes = new Map<string, { input: Shape; output: Shape }>();
  const shapeOf = (sel: Selector): Shape => {
    if (sel.kind === 'input') {
      const inp = inputByName.get(sel.name) as CompiledInput;
      return inp.type === 'parameter' ? SCALAR : { level: 1, lineage: [INPUT_LINEAGE] };
    }
    return (shapes.get((sel as { step: string }).step) as { output: Shape }).output;
  };
  const kindsOf = (sel: Selector): readonly string[] => {
    if (sel.kind === 'input') return (inputByName.get(sel.name) as CompiledInput).kinds;
    if (sel.kind === 'output' && sel.output !== '*') {
      return (
        stepByName.get(sel.step)?.block.outputs.find((o) => o.name === sel.output)?.kinds ?? [Kind.wildcard]
      );
    }
    return [Kind.wildcard];
  };
  const steps: CompiledStep[] = [];
  for (const name of order) {
    const s = stepByName.get(name) as RawStep;
    const fields = stepFields.get(name) as Record<string, FieldValue>;
    let input: Shape = SCALAR;
    let from = '';
    for (const { field, selector } of selectorsOf(fields)) {
      const spec = s.block.fields.find((f) => f.name === field.split('.')[0]);
      const produced = kindsOf(selector);
      if (spec && spec.role !== 'selector-map' && !kindsCompatible(spec.kinds, produced)) {
        problems.add({
          step: name,
          field,
          message: `"${selector.raw}" is of kind ${produced.join(' | ')}, but this field accepts ${(spec.kinds ?? []).join(' | ')}`,
        });
      }
      const sh = shapeOf(selector);
      if (sh.level === 0) continue;
      if (input.level === 0) {
        input = sh;
        from = field;
      } else if (!sameLineage(input.lineage, sh.lineage)) {
        problems.add({
          step: name,
          field,
          message: `"${selector.raw}" is at dimensionality ${sh.level} (${sh.lineage.join(' > ')}) but "${from}" is at ${input.level} (${input.lineage.join(' > ')}); inputs of one step must come from the same batch`,
        });
      }
    }
    let output = input;
    if (s.block.dimensionalityOffset === 1) {
      if (input.level === 0)
        problems.add({ step: name, message: `${s.block.title} needs batch inputs (images and predictions)` });
      output = { level: input.level + 1, lineage: [...input.lineage, name] };
    }
    shapes.set(name, { input, output });
    steps.push({
      name,
      type: s.type,
      block: s.block,
      fields,
      inputShape: input,
      outputShape: output,
      gates: gates.get(name) as string[],
    });
  }

  // Flow control: a Continue If must sit at or above the level of the steps it gates ----------
  for (const st of steps) {
    for (const g of st.gates) {
      const gs = shapes.get(g) as { input: Shape };
      if (!isPrefix(gs.input.lineage, st.inputShape.lineage)) {
        problems.add({
          step: g,
          field: 'next_steps',
          message: `cannot gate "${st.name}": it runs at dimensionality ${gs.input.level}, below "${st.name}" (${st.inputShape.level})`,
        });
      }
    }
  }

  // Outputs ----------------------------------------------------------------------------------
  const outputs: CompiledOutput[] = [];
  const seenOutputs = new Set<string>();
  const parseOutput = (o: unknown, i: number): null | undefined => {
    const where = isObj(o) && typeof o.name === 'string' ? o.name : `outputs[${i}]`;
    if (!isObj(o)) return problems.add({ step: where, message: 'an output must be an object' });
    if (o.type !== undefined && o.type !== 'JsonField')
      return problems.add({
        step: where,
        field: 'type',
        message: `output type ${JSON.stringify(o.type)} is not supported (JsonField)`,
      });
    if (typeof o.name !== 'string' || o.name.length === 0)
      return problems.add({ step: where, field: 'name', message: 'an output needs a name' });
    if (seenOutputs.has(o.name))
      return problems.add({ step: o.name, field: 'name', message: 'duplicate output name' });
    seenOutputs.add(o.name);
    const sel = typeof o.selector === 'string' ? parseSelector(o.selector) : null;
    if (!sel || sel.kind === 'step') {
      return problems.add({
        step: o.name,
        field: 'selector',
        message: `must be "$inputs.<name>", "$steps.<step>.<output>" or "$steps.<step>.*", got ${JSON.stringify(o.selector)}`,
      });
    }
    if (sel.kind === 'input' && !inputByName.has(sel.name))
      return problems.add({
        step: o.name,
        field: 'selector',
        message: `refers to the undefined input "${sel.name}"`,
      });
    if (sel.kind === 'output') {
      const target = stepByName.get(sel.step);
      if (!target)
        return problems.add({
          step: o.name,
          field: 'selector',
          message: `refers to the undefined step "${sel.step}"`,
        });
      if (sel.output !== '*' && !target.block.outputs.some((x) => x.name === sel.output)) {
        return problems.add({
          step: o.name,
          field: 'selector',
          message: `step "${sel.step}" has no output "${sel.output}" (outputs: ${target.block.outputs.map((x) => x.name).join(', ') || 'none'})`,
        });
      }
    }
    const cs = o.coordinates_system ?? 'parent';
    if (cs !== 'parent' && cs !== 'own')
      return problems.add({
        step: o.name,
        field: 'coordinates_system',
        message: 'must be "parent" or "own"',
      });
    outputs.push({ name: o.name, selector: sel, coordinatesSystem: cs, shape: shapeOf(sel) });
  };
  for (const [i, o] of (definition.outputs as unknown[]).entries()) parseOutput(o, i);

  // Models -------------------------------------------------------------------------------------
  const modelIds = new Set<string>();
  for (const st of steps) {
    const task = st.block.modelTask;
    if (!task) continue;
    const f = st.fields.model_id;
    let id: unknown;
    if (f.kind === 'literal') id = f.value;
    else if (f.kind === 'selector' && f.selector.kind === 'input') {
      const inp = inputByName.get(f.selector.name) as CompiledInput;
      if (inp.type !== 'parameter') {
        problems.add({ step: st.name, field: 'model_id', message: `"${f.selector.raw}" is not a parameter` });
        continue;
      }
      id = opts.parameters?.[inp.name] ?? inp.defaultValue;
      if (id === null || id === undefined) {
        if (opts.parameters)
          problems.add({ step: st.name, field: 'model_id', message: `parameter "${inp.name}" has no value` });
        continue;
      }
    } else {
      problems.add({
        step: st.name,
        field: 'model_id',
        message: 'must be a model id or a parameter ("$inputs.<name>")',
      });
      continue;
    }
    if (typeof id !== 'string' || id.length === 0) {
      problems.add({
        step: st.name,
        field: 'model_id',
        message: `must be a model id string, got ${JSON.stringify(id)}`,
      });
      continue;
    }
    const record = opts.models[id];
    if (!record && opts.unknownModels === 'allow') continue;
    if (!record) {
      problems.add({
        step: st.name,
        field: 'model_id',
        message: `unknown model id "${id}" (register it in the workspace's model registry)`,
      });
      continue;
    }
    if (record.task !== task) {
      problems.add({
        step: st.name,
        field: 'model_id',
        message: `model "${id}" is a ${record.task} model; ${st.block.title} needs ${task}`,
      });
      continue;
    }
    modelIds.add(id);
  }
  problems.throwIfAny();

  const imageInputs = inputs.filter((i) => i.type === 'image').map((i) => i.name);
  const pixelInputs = new Set<string>();
  for (const st of steps) {
    const f = st.fields.images;
    if (st.block.readsPixels && f?.kind === 'selector' && f.selector.kind === 'input')
      pixelInputs.add(f.selector.name);
  }
  const stateful = rawSteps.some((s) => isStatefulType(s.type));
  return {
    version,
    inputs,
    steps,
    outputs,
    stateful,
    imageInputs,
    pixelInputs: [...pixelInputs],
    modelIds: [...modelIds],
    models: opts.models,
    warnings: rawSteps.flatMap(unknownFieldWarnings),
  };
}

/**
 * Whether a definition contains a stateful block (tracker, line counter, time in zone), without
 * compiling it; the scheduler must then process each video in one ordered pass (§2.14).
 */
export function isStatefulDefinition(definition: unknown): boolean {
  if (!isObj(definition) || !Array.isArray(definition.steps)) return false;
  return definition.steps.some((s) => isObj(s) && typeof s.type === 'string' && isStatefulType(s.type));
}
