import { Detections, serialiseDetections, toRootCoordinates } from '../detections.ts';
import { WorkflowStepError } from '../errors.ts';
import type { DecodedImage } from '../image-decode.ts';
import type { ModelRuntime } from '../model-runtime.ts';
import { preprocess } from '../preprocess.ts';
import { DEDUCTED_IMAGE } from '../results-format.ts';
import type { BlockContext, StepItem } from './block.ts';
import {
  type CompiledOutput,
  type CompiledStep,
  type CompiledWorkflow,
  type FieldValue,
  INPUT_LINEAGE,
  type Shape,
} from './compiler.ts';
import type { Selector } from './selectors.ts';
import { StateStore } from './state.ts';
import { type VideoMetadata, WorkflowImage } from './values.ts';

/**
 * Runs a compiled workflow on one image (the CLI's and our batch unit: a single image whose
 * parent id is the input name, spec §3.8) and builds the serialised result dict (§1.10, §3).
 *
 * Values are kept per step and per index (`(0,)` for the image, `(0, j)` for its j-th crop, ...).
 * An index that is absent was masked by flow control (or its inputs were); a present `null` is an
 * element that produced nothing (a zero-area crop) — both come out as `null` in nested lists.
 */

export interface RunOptions {
  /** which image input receives the image (default: the only one) */
  imageInputName?: string | null;
  /** job parameters (`workflowParameters`) */
  parameters?: Readonly<Record<string, unknown>>;
  /** the frame's video metadata (§5.5); still images get a synthetic one when a block asks */
  videoMetadata?: VideoMetadata | null;
  /**
   * State of stateful blocks kept across runs: a video task passes one store to all its frames,
   * in order. Without one, the run starts from nothing (still images, §2.14 [I]).
   */
  state?: StateStore;
}

/** An image value found in the outputs, by key path (for persisting image outputs later). */
export interface ImageOutput {
  /** output name, then dict keys / list indices */
  path: Array<string | number>;
  image: WorkflowImage;
}

export interface RunResult {
  /** the serialised result dict of the image (images replaced by `"<deducted_image>"`) */
  output: Record<string, unknown>;
  /** image values of the outputs, by key path */
  images: ImageOutput[];
  /** detections of object-detection models by class name */
  detectionsByClass: Record<string, number>;
}

const key = (index: readonly number[]) => index.join('.');

type StepValues = Map<string, Record<string, unknown> | null>;

class RunState {
  /** step → index key → outputs (null: ran on nothing) */
  readonly values = new Map<string, StepValues>();
  /** lineage key → indices, in order */
  readonly lineages = new Map<string, number[][]>();
  /** Continue If step → index key → continue? */
  readonly decisions = new Map<string, Map<string, boolean>>();
  readonly detectionsByClass: Record<string, number> = {};

  constructor(
    /** parameter and video-metadata input values */
    readonly inputs: Readonly<Record<string, unknown>>,
    /** the image of this run */
    readonly image: WorkflowImage,
    /** the image input it is given to */
    readonly imageInput: string,
    /** every image input; the others get no value, which masks the steps that read them */
    readonly imageInputs: ReadonlySet<string>,
  ) {
    this.lineages.set(INPUT_LINEAGE, [[0]]);
  }
}

/** Marker for "no value at this index" (masked), distinct from null. */
const ABSENT = Symbol('absent');

function selectorValue(state: RunState, sel: Selector, index: readonly number[], shape: Shape): unknown {
  if (sel.kind === 'input') {
    if (sel.name === state.imageInput) return index.length === 1 && index[0] === 0 ? state.image : ABSENT;
    if (state.imageInputs.has(sel.name)) return ABSENT;
    if (shape.level === 1)
      return index.length === 1 && index[0] === 0 ? (state.inputs[sel.name] ?? null) : ABSENT;
    return state.inputs[sel.name] ?? null;
  }
  if (sel.kind !== 'output') return ABSENT;
  const values = state.values.get(sel.step);
  if (!values) return ABSENT;
  const at = values.get(key(index.slice(0, shape.level)));
  if (at === undefined) return ABSENT;
  if (at === null) return null;
  return sel.output === '*' ? at : at[sel.output];
}

function shapeOfSelector(compiled: CompiledWorkflow, sel: Selector): Shape {
  if (sel.kind === 'input') {
    const inp = compiled.inputs.find((i) => i.name === sel.name);
    return inp && inp.type !== 'parameter'
      ? { level: 1, lineage: [INPUT_LINEAGE] }
      : { level: 0, lineage: [] };
  }
  const st = compiled.steps.find((s) => s.name === (sel as { step: string }).step);
  return st ? st.outputShape : { level: 0, lineage: [] };
}

/** Resolves a step's fields at one index; ABSENT when a batch input is masked, null when one is null. */
function resolveArgs(
  compiled: CompiledWorkflow,
  state: RunState,
  step: CompiledStep,
  index: readonly number[],
): Record<string, unknown> | null | typeof ABSENT {
  const args: Record<string, unknown> = {};
  let hasNull = false;
  const one = (v: FieldValue, dataField: boolean): unknown => {
    switch (v.kind) {
      case 'literal':
        return v.value;
      case 'steps':
        return v.steps;
      case 'map': {
        const out: Record<string, unknown> = {};
        for (const [k, e] of Object.entries(v.entries)) {
          const x = one(e, false);
          if (x === ABSENT) return ABSENT;
          out[k] = x;
        }
        return out;
      }
      case 'selector': {
        const shape = shapeOfSelector(compiled, v.selector);
        const x = selectorValue(state, v.selector, index, shape);
        if (x === ABSENT) return ABSENT;
        if (x === null && dataField && shape.level > 0) hasNull = true;
        return x;
      }
    }
  };
  for (const [name, v] of Object.entries(step.fields)) {
    const spec = step.block.fields.find((f) => f.name === name);
    const x = one(v, spec?.role === 'data');
    if (x === ABSENT) return ABSENT;
    args[name] = x;
  }
  return hasNull ? null : args;
}

function isGatedOff(
  state: RunState,
  compiled: CompiledWorkflow,
  step: CompiledStep,
  index: readonly number[],
): boolean {
  for (const g of step.gates) {
    const gate = compiled.steps.find((s) => s.name === g) as CompiledStep;
    const decision = state.decisions.get(g)?.get(key(index.slice(0, gate.inputShape.level)));
    if (decision !== true) return true;
  }
  return false;
}

async function runStep(
  compiled: CompiledWorkflow,
  state: RunState,
  step: CompiledStep,
  ctx: BlockContext,
): Promise<void> {
  const shape = step.inputShape;
  const indices = shape.level === 0 ? [[]] : (state.lineages.get(shape.lineage.join('/')) ?? []);
  const values: StepValues = new Map();
  const items: StepItem[] = [];
  for (const index of indices) {
    if (isGatedOff(state, compiled, step, index)) continue;
    const args = resolveArgs(compiled, state, step, index);
    if (args === ABSENT) continue;
    if (args === null) {
      values.set(key(index), null);
      continue;
    }
    items.push({ index, args });
  }
  let results: unknown[] = [];
  if (items.length > 0) {
    try {
      results = await step.block.run(ctx, items);
    } catch (err) {
      throw new WorkflowStepError(step.name, err);
    }
  }
  if (step.block.flowControl) {
    const decisions = new Map<string, boolean>();
    for (const [i, it] of items.entries()) decisions.set(key(it.index), results[i] === true);
    state.decisions.set(step.name, decisions);
    state.values.set(step.name, values);
    return;
  }
  if (step.block.dimensionalityOffset === 1) {
    const children: number[][] = [];
    // children of every parent index in lineage order (masked parents have none)
    const byParent = new Map(
      items.map((it, i) => [key(it.index), results[i] as Array<Record<string, unknown> | null>]),
    );
    for (const index of indices) {
      const produced = byParent.get(key(index));
      if (!produced) continue;
      produced.forEach((v, j) => {
        const child = [...index, j];
        children.push(child);
        values.set(key(child), v === null || Object.values(v).every((x) => x === null) ? null : v);
      });
    }
    state.lineages.set(step.outputShape.lineage.join('/'), children);
  } else {
    for (const [i, it] of items.entries())
      values.set(key(it.index), (results[i] as Record<string, unknown> | null) ?? null);
  }
  state.values.set(step.name, values);
}

// Output construction -------------------------------------------------------------------------

interface SerialiseCtx {
  parentCoordinates: boolean;
  images: ImageOutput[];
}

/** Serialises one output value (§3.1): detections per §3.2, images deducted, recursively. */
function serialise(v: unknown, ctx: SerialiseCtx, path: Array<string | number>): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Detections) return serialiseDetections(ctx.parentCoordinates ? toRootCoordinates(v) : v);
  if (v instanceof WorkflowImage) {
    ctx.images.push({ path, image: v });
    return DEDUCTED_IMAGE;
  }
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((x, i) => serialise(x, ctx, [...path, i]));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      out[k] = serialise(x, ctx, [...path, k]);
    return out;
  }
  return v;
}

function outputValueAt(state: RunState, out: CompiledOutput, index: readonly number[]): unknown {
  const v = selectorValue(state, out.selector, index, out.shape);
  return v === ABSENT ? null : v;
}

/** Nested lists for deeper outputs: one level per dimensionality above the image (§1.10). */
function nested(state: RunState, out: CompiledOutput, prefix: number[]): unknown {
  if (prefix.length === out.shape.level) return outputValueAt(state, out, prefix);
  const lineage = out.shape.lineage.slice(0, prefix.length + 1).join('/');
  const indices = state.lineages.get(lineage) ?? [];
  const next: number[] = [];
  for (const idx of indices) {
    if (prefix.every((p, i) => idx[i] === p) && !next.includes(idx[prefix.length]))
      next.push(idx[prefix.length]);
  }
  return next.map((j) => nested(state, out, [...prefix, j]));
}

function buildOutput(
  compiled: CompiledWorkflow,
  state: RunState,
): { output: Record<string, unknown>; images: ImageOutput[] } {
  const images: ImageOutput[] = [];
  const output: Record<string, unknown> = {};
  // scalar outputs first, then batch outputs, each in definition order (§1.10)
  const ordered = [
    ...compiled.outputs.filter((o) => o.shape.level === 0),
    ...compiled.outputs.filter((o) => o.shape.level > 0),
  ];
  for (const out of ordered) {
    const raw = out.shape.level === 0 ? outputValueAt(state, out, []) : nested(state, out, [0]);
    output[out.name] = serialise(raw, { parentCoordinates: out.coordinatesSystem === 'parent', images }, [
      out.name,
    ]);
  }
  return { output, images };
}

// Entry points --------------------------------------------------------------------------------

/** The image input a run's image goes to. @throws Error when it is ambiguous or unknown */
export function pickImageInput(compiled: CompiledWorkflow, name: string | null | undefined): string {
  if (name) {
    if (!compiled.imageInputs.includes(name))
      throw new Error(
        `the workflow has no image input "${name}" (image inputs: ${compiled.imageInputs.join(', ') || 'none'})`,
      );
    return name;
  }
  if (compiled.imageInputs.length !== 1) {
    throw new Error(
      `the workflow has ${compiled.imageInputs.length} image inputs (${compiled.imageInputs.join(', ')}); name the one to use (imageInputName)`,
    );
  }
  return compiled.imageInputs[0];
}

function inputValues(
  compiled: CompiledWorkflow,
  params: Readonly<Record<string, unknown>>,
  image: WorkflowImage,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const inp of compiled.inputs) {
    if (inp.type === 'parameter')
      values[inp.name] = params[inp.name] !== undefined ? params[inp.name] : inp.defaultValue;
    else if (inp.type === 'video_metadata') values[inp.name] = image.metadataOrSynthetic();
  }
  return values;
}

/**
 * Starts the pre-processing of `image` for the models that read the input image directly, so it
 * can run on libuv's pool while the previous image is in the model. The run reuses the results
 * (memoised on the image). Resolves when they are ready; rejects with the first
 * `ImageDecodeError` (a file whose header was fine but whose pixels are not).
 */
export async function prepareImage(
  compiled: CompiledWorkflow,
  image: DecodedImage,
  opts: RunOptions = {},
): Promise<void> {
  const pending: Array<Promise<unknown>> = [];
  for (const st of compiled.steps) {
    const images = st.fields.images;
    const modelField = st.fields.model_id;
    if (
      !st.block.modelTask ||
      images?.kind !== 'selector' ||
      images.selector.kind !== 'input' ||
      st.gates.length > 0
    )
      continue;
    let id: unknown;
    if (modelField.kind === 'literal') id = modelField.value;
    else if (modelField.kind === 'selector' && modelField.selector.kind === 'input') {
      const name = modelField.selector.name;
      id = opts.parameters?.[name] ?? compiled.inputs.find((i) => i.name === name)?.defaultValue;
    }
    const record = typeof id === 'string' ? compiled.models[id] : undefined;
    if (record) {
      pending.push(
        preprocess(image, {
          width: record.input.width,
          height: record.input.height,
          mode: record.resizeMode,
          paddingValue: record.paddingValue,
        }),
      );
    }
  }
  await Promise.all(pending);
}

/** Runs the workflow on one decoded image. @throws WorkflowStepError when a step fails */
export async function executeImage(
  compiled: CompiledWorkflow,
  runtime: ModelRuntime,
  image: DecodedImage,
  opts: RunOptions = {},
): Promise<RunResult> {
  const inputName = pickImageInput(compiled, opts.imageInputName);
  const wimage = WorkflowImage.input(image, inputName, opts.videoMetadata ?? null);
  const store = opts.state ?? new StateStore();
  const params = opts.parameters ?? {};
  // other image inputs get nothing: a step reading one is masked
  const state = new RunState(
    inputValues(compiled, params, wimage),
    wimage,
    inputName,
    new Set(compiled.imageInputs),
  );
  const ctx = (step: string): BlockContext => ({
    step,
    runtime,
    models: compiled.models,
    countDetections: (c, n) => {
      state.detectionsByClass[c] = (state.detectionsByClass[c] ?? 0) + n;
    },
    state: (videoIdentifier, create) => store.get(step, videoIdentifier, create),
  });
  for (const step of compiled.steps) await runStep(compiled, state, step, ctx(step.name));
  const { output, images } = buildOutput(compiled, state);
  return { output, images, detectionsByClass: state.detectionsByClass };
}

/** Runs the workflow on one image and returns its serialised result dict (parent id = input name). */
export async function runImage(
  compiled: CompiledWorkflow,
  runtime: ModelRuntime,
  image: DecodedImage,
  params: Readonly<Record<string, unknown>> = {},
  opts: Omit<RunOptions, 'parameters'> = {},
): Promise<Record<string, unknown>> {
  return (await executeImage(compiled, runtime, image, { ...opts, parameters: params })).output;
}
