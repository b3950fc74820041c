import { closestName } from '@visionbatch/engine/closest-name';
import {
  type FactSource,
  type ModelFacts,
  modelFactsOf,
  OnnxReadError,
  readOnnxModelInfo,
} from '@visionbatch/engine/model-metadata';
import { Errors } from '@visionbatch/shared/errors';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { issueField } from '@visionbatch/shared/wire/batch-processing';
import { z } from 'zod';

/**
 * The model config of an upload (`PUT /models/...`, form field `config`): every field optional, in
 * our camelCase or in Roboflow's / the spec's snake_case, merged over what the ONNX file says about
 * itself (Ultralytics metadata, the graph's shapes) and the defaults. Unknown keys are refused with
 * the accepted ones, so a misspelling is never dropped silently.
 */

/** Accepted keys of each object, camelCase name → its snake_case alias (or null when the same). */
const TOP_KEYS = {
  task: null,
  architecture: null,
  classNames: 'class_names',
  input: null,
  resizeMode: 'resize_mode',
  paddingValue: 'padding_value',
  postProcessing: 'post_processing',
  defaults: null,
  description: null,
  author: null,
} as const;
const DEFAULTS_KEYS = {
  confidence: null,
  iouThreshold: 'iou_threshold',
  maxDetections: 'max_detections',
  classAgnosticNms: 'class_agnostic_nms',
} as const;
const INPUT_KEYS = { width: null, height: null } as const;

const DEFAULTS = { confidence: 0.4, iouThreshold: 0.3, maxDetections: 300, classAgnosticNms: false };

const ConfigInput = z
  .object({
    task: z.enum(['object-detection', 'classification', 'multi-label-classification']),
    architecture: z.string().min(1).max(64),
    classNames: z.array(z.string().min(1).max(256)).min(1).max(10_000),
    input: z.object({ width: z.number().int().min(8).max(8192), height: z.number().int().min(8).max(8192) }),
    resizeMode: z.enum(['stretch', 'letterbox', 'center-crop', 'shortest-edge-center-crop']),
    paddingValue: z.number().int().min(0).max(255),
    postProcessing: z.enum(['nms', 'nms-fused', 'softmax', 'softmax-fused', 'sigmoid']),
    defaults: z
      .object({
        confidence: z.number().min(0).max(1),
        iouThreshold: z.number().min(0).max(1),
        maxDetections: z.number().int().min(1).max(10_000),
        classAgnosticNms: z.boolean(),
      })
      .partial(),
    description: z.string().max(2000),
    author: z.string().max(256),
  })
  .partial();

/** A config as uploaded, keys normalised to camelCase and values checked; every field optional. */
export type ModelConfigInput = z.infer<typeof ConfigInput>;

/** The model fields of a registry record, as resolved from config, file and defaults. */
export type ResolvedModelConfig = Omit<
  ModelRecord,
  'modelId' | 'weightsKey' | 'weightsSha256' | 'weightsBytes' | 'createdAt'
>;

/** Where each field of a resolved config came from. */
export type ConfigSources = Record<
  'task' | 'classNames' | 'input' | 'resizeMode' | 'paddingValue' | 'postProcessing' | 'architecture',
  'config' | FactSource | 'default'
>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** One object's keys → camelCase; unknown keys and a field given twice are a 400. */
function normaliseKeys(
  obj: Record<string, unknown>,
  accepted: Readonly<Record<string, string | null>>,
  where: string,
): Record<string, unknown> {
  const byName = new Map<string, string>();
  for (const [camel, snake] of Object.entries(accepted)) {
    byName.set(camel, camel);
    if (snake) byName.set(snake, camel);
  }
  const out: Record<string, unknown> = {};
  const given = new Map<string, string>();
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    const camel = byName.get(key);
    if (!camel) {
      unknown.push(key);
      continue;
    }
    const other = given.get(camel);
    if (other !== undefined) throw Errors.validation(where, `give only one of "${other}" and "${key}"`);
    given.set(camel, key);
    out[camel] = value;
  }
  if (unknown.length > 0) {
    const hints = unknown.map((k) => {
      const near = closestName(k, Object.keys(accepted));
      // Suggest in the spelling the user writes in.
      const shown = near && k.includes('_') ? (accepted[near] ?? near) : near;
      return shown ? `"${k}" (did you mean "${shown}"?)` : `"${k}"`;
    });
    const list = Object.entries(accepted)
      .map(([camel, snake]) => (snake ? `${camel} (${snake})` : camel))
      .join(', ');
    throw Errors.validation(
      where,
      `unknown key${unknown.length > 1 ? 's' : ''} ${hints.join(', ')}; accepted: ${list}`,
    );
  }
  return out;
}

/**
 * Checks the `config` of a model upload (JSON already parsed): keys in camelCase or snake_case,
 * values checked.
 * @throws VB_ERR_VALIDATION naming the field (`config`, `config.defaults`, `config.paddingValue`, ...)
 */
export function parseModelConfig(raw: unknown): ModelConfigInput {
  if (!isObject(raw)) throw Errors.validation('config', 'must be a JSON object');
  const config = normaliseKeys(raw, TOP_KEYS, 'config');
  if (isObject(config.defaults))
    config.defaults = normaliseKeys(config.defaults, DEFAULTS_KEYS, 'config.defaults');
  if (isObject(config.input)) config.input = normaliseKeys(config.input, INPUT_KEYS, 'config.input');
  const parsed = ConfigInput.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw Errors.validation(`config.${issueField(issue.path)}`, issue.message);
  }
  return parsed.data;
}

/**
 * What the weights say about the model (Ultralytics metadata and the graph's shapes).
 * @throws VB_ERR_VALIDATION on `weights` when they are not an ONNX model
 */
export function modelFactsOfWeights(bytes: Uint8Array): ModelFacts {
  try {
    return modelFactsOf(readOnnxModelInfo(bytes));
  } catch (err) {
    if (err instanceof OnnxReadError)
      throw Errors.validation('weights', `not a loadable ONNX model: ${err.message}`);
    throw err;
  }
}

const SNAKE: Record<string, string> = { classNames: 'class_names', input: 'input', task: 'task' };

/**
 * Merges a config over the facts of the model file: the config wins field by field, then the file,
 * then the defaults (letterbox, padding 114, post-processing by task, confidence 0.4, IoU 0.3,
 * 300 detections). `facts` is null when the file was not read (too large).
 * @throws VB_ERR_VALIDATION naming a required field that neither gives
 */
export function resolveModelConfig(
  config: ModelConfigInput | null,
  facts: ModelFacts | null,
): { config: ResolvedModelConfig; sources: ConfigSources } {
  const c = config ?? {};
  const f: Partial<ModelFacts> = facts ?? {};
  const sources = {} as ConfigSources;
  const required = <K extends 'task' | 'classNames' | 'input'>(key: K, missing: string) => {
    if (c[key] !== undefined) {
      sources[key] = 'config';
      return c[key] as NonNullable<ModelConfigInput[K]>;
    }
    const v = f[key];
    if (v !== undefined) {
      sources[key] = f.sources?.[key] ?? 'metadata';
      return v as NonNullable<ModelConfigInput[K]>;
    }
    const why = f.problems?.[key] ?? missing;
    throw Errors.validation(`config.${key}`, `${why}; give "${SNAKE[key]}" in the config`);
  };
  const unread = facts
    ? 'the model file does not say'
    : 'the model file is too large to be read for metadata';
  const task = required('task', `missing: ${unread}`);
  const classes = f.outputClasses;
  const classNames = required(
    'classNames',
    facts
      ? `missing: the model carries no class names (no Ultralytics "names" metadata)${
          classes ? `; its output [${f.outputDims?.join(', ')}] has ${classes} classes` : ''
        }`
      : `missing: ${unread}`,
  );
  const input = required(
    'input',
    `missing: ${unread} (its input size is dynamic and it has no "imgsz" metadata)`,
  );
  // What the file says about resizing and decoding is about the task it was exported for.
  const sameTask = f.task === task;
  const optional = <K extends 'resizeMode' | 'paddingValue' | 'postProcessing' | 'architecture'>(
    key: K,
    fileApplies: boolean,
    dflt: NonNullable<ModelConfigInput[K]>,
  ): NonNullable<ModelConfigInput[K]> => {
    if (c[key] !== undefined) {
      sources[key] = 'config';
      return c[key] as NonNullable<ModelConfigInput[K]>;
    }
    const v = f[key];
    if (fileApplies && v !== undefined) {
      sources[key] = f.sources?.[key] ?? 'metadata';
      return v as NonNullable<ModelConfigInput[K]>;
    }
    sources[key] = 'default';
    return dflt;
  };
  const byTask = task === 'object-detection' ? 'nms' : task === 'classification' ? 'softmax' : 'sigmoid';
  return {
    config: {
      task,
      architecture: optional('architecture', true, 'yolov8'),
      classNames,
      input,
      resizeMode: optional('resizeMode', sameTask, 'letterbox'),
      paddingValue: optional('paddingValue', sameTask, 114),
      postProcessing: optional('postProcessing', sameTask, byTask),
      defaults: { ...DEFAULTS, ...c.defaults },
      ...((c.description ?? f.description) ? { description: c.description ?? f.description } : {}),
      ...((c.author ?? f.author) ? { author: c.author ?? f.author } : {}),
    },
    sources,
  };
}
