import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import type { ModelRuntime } from '../model-runtime.ts';

/**
 * What a block is to the compiler and executor: its accepted `type` strings, its fields (with
 * aliases, defaults, accepted kinds and literal checks), its outputs with kinds, and `run`.
 */

/** Kinds (spec §2.0) used by the subset. `*` matches anything. */
export const Kind = {
  image: 'image',
  videoMetadata: 'video_metadata',
  objectDetection: 'object_detection_prediction',
  classification: 'classification_prediction',
  string: 'string',
  inferenceId: 'inference_id',
  modelId: 'roboflow_model_id',
  float01: 'float_zero_to_one',
  float: 'float',
  integer: 'integer',
  boolean: 'boolean',
  listOfValues: 'list_of_values',
  dictionary: 'dictionary',
  wildcard: '*',
} as const;

/**
 * How a field is written:
 * - `data`: a selector to batch data (`$inputs.image`, `$steps.x.predictions`);
 * - `param`: a literal or a selector (to a parameter or a step output);
 * - `selector-map`: an object whose values are selectors (operations_parameters);
 * - `steps`: a list of `$steps.<name>` (next_steps);
 * - `operations` / `statement`: query-language structures (§2.8), checked at compile time.
 */
export type FieldRole = 'data' | 'param' | 'selector-map' | 'steps' | 'operations' | 'statement';

export interface FieldSpec {
  name: string;
  aliases?: readonly string[];
  role: FieldRole;
  required?: boolean;
  /** value when the definition omits the field */
  default?: unknown;
  /** kinds a selector in this field may point at; absent or `*` accepts any */
  kinds?: readonly string[];
  /** checks a literal; returns what is wrong, or null */
  check?: (value: unknown) => string | null;
}

export interface OutputSpec {
  name: string;
  kinds: readonly string[];
}

/** One element a step runs on: its index and resolved field values. */
export interface StepItem {
  index: readonly number[];
  args: Record<string, unknown>;
}

/** What blocks may use while running. */
export interface BlockContext {
  step: string;
  runtime: ModelRuntime;
  models: Readonly<Record<string, ModelRecord>>;
  /** adds detections of an object-detection model to the run's per-class counts */
  countDetections(className: string, n: number): void;
  /**
   * The state this step keeps for one video (trackers, §2.14), made by `create` on first sight of
   * `videoIdentifier`; it lives as long as the run's state store (a video task's frames).
   */
  state<T>(videoIdentifier: string, create: () => T): T;
}

export interface BlockDef {
  /** human name used in messages, e.g. "Object Detection Model v2" */
  title: string;
  types: readonly string[];
  fields: readonly FieldSpec[];
  outputs: readonly OutputSpec[];
  /** +1 for blocks whose outputs are one level deeper (Dynamic Crop) */
  dimensionalityOffset?: 0 | 1;
  /** flow control: `run` returns one boolean per item (continue or not) */
  flowControl?: boolean;
  /** keeps state across frames (trackers); the scheduler must not split a video */
  stateful?: boolean;
  /** the registry task `model_id` must have */
  modelTask?: ModelRecord['task'];
  /** reads full pixels of the image in its `images` field (so the input is decoded up front) */
  readsPixels?: boolean;
  /**
   * Runs every (non-null, unmasked) element of one step together. Returns one entry per item:
   * an output dict (or null); for dimensionality +1 blocks a list of dicts (or nulls); for flow
   * control a boolean.
   */
  run(ctx: BlockContext, items: readonly StepItem[]): Promise<unknown[]>;
}

// Literal checks --------------------------------------------------------------------------------

export const checks = {
  float01: (v: unknown) =>
    typeof v === 'number' && v >= 0 && v <= 1 ? null : 'must be a number between 0 and 1',
  number: (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? null : 'must be a number'),
  positiveInt: (v: unknown) =>
    Number.isInteger(v) && (v as number) > 0 ? null : 'must be a positive integer',
  nonNegativeInt: (v: unknown) =>
    Number.isInteger(v) && (v as number) >= 0 ? null : 'must be a non-negative integer',
  boolean: (v: unknown) => (typeof v === 'boolean' ? null : 'must be true or false'),
  string: (v: unknown) => (typeof v === 'string' && v.length > 0 ? null : 'must be a non-empty string'),
  optionalString: (v: unknown) => (v === null || typeof v === 'string' ? null : 'must be a string or null'),
  stringList: (v: unknown) =>
    v === null || (Array.isArray(v) && v.every((x) => typeof x === 'string'))
      ? null
      : 'must be a list of strings',
  oneOf: (allowed: readonly string[]) => (v: unknown) =>
    typeof v === 'string' && allowed.includes(v)
      ? null
      : `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`,
  any: () => null,
};
