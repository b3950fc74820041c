/**
 * What an ONNX file says about itself, so that an Ultralytics export can be registered without a
 * config: the graph's first input and output shapes and the model's `metadata_props`, and the model
 * config they imply. onnxruntime-node does not expose `metadata_props` portably, so the ModelProto is
 * read with protobufjs against the few messages needed here; everything else (nodes, weights) is
 * skipped without being decoded.
 */
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import protobuf from 'protobufjs';
import { PythonLiteralError, type PythonValue, parsePythonLiteral } from './python-literal.ts';

// Field numbers of onnx/onnx.proto; only what this module reads.
const SCHEMA = `
syntax = "proto2";
message StringStringEntryProto { optional string key = 1; optional string value = 2; }
message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } }
message TensorShapeProto { repeated Dimension dim = 1; }
message TensorTypeProto { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
message TypeProto { oneof value { TensorTypeProto tensor_type = 1; } }
message ValueInfoProto { optional string name = 1; optional TypeProto type = 2; }
message TensorName { optional string name = 8; }
message GraphProto {
  repeated TensorName initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
message ModelProto { optional GraphProto graph = 7; repeated StringStringEntryProto metadata_props = 14; }
`;

let modelProto: protobuf.Type | undefined;
const modelType = () => {
  modelProto ??= protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('ModelProto');
  return modelProto;
};

/** A dimension: its size, or the symbolic name of a dynamic one (`''` when unnamed). */
export type Dim = number | string;

/** A graph input or output. */
export interface GraphTensor {
  name: string;
  /** null when the graph declares no shape */
  dims: Dim[] | null;
}

/** The parts of an ONNX file that describe the model. */
export interface OnnxModelInfo {
  metadata: Record<string, string>;
  /** the first graph input that is not an initializer */
  input: GraphTensor | null;
  output: GraphTensor | null;
}

/** Bytes that are not an ONNX ModelProto. */
export class OnnxReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxReadError';
  }
}

interface RawValueInfo {
  name?: string;
  type?: { tensor_type?: { shape?: { dim?: Array<{ dim_value?: number; dim_param?: string }> } } };
}

const tensorOf = (v: RawValueInfo | undefined): GraphTensor | null => {
  if (!v) return null;
  const dim = v.type?.tensor_type?.shape?.dim;
  return {
    name: v.name ?? '',
    dims: dim ? dim.map((d) => (typeof d.dim_value === 'number' ? d.dim_value : (d.dim_param ?? ''))) : null,
  };
};

/**
 * Reads the metadata and the first input and output of an ONNX model.
 * @throws OnnxReadError when the bytes are not a ModelProto with a graph
 */
export function readOnnxModelInfo(bytes: Uint8Array): OnnxModelInfo {
  let raw: {
    graph?: { initializer?: Array<{ name?: string }>; input?: RawValueInfo[]; output?: RawValueInfo[] };
    metadata_props?: Array<{ key?: string; value?: string }>;
  };
  try {
    const type = modelType();
    raw = type.toObject(type.decode(bytes), { longs: Number, oneofs: false }) as typeof raw;
  } catch (err) {
    throw new OnnxReadError(`not an ONNX model: ${(err as Error).message}`);
  }
  if (!raw.graph) throw new OnnxReadError('not an ONNX model: it has no graph');
  const initializers = new Set((raw.graph.initializer ?? []).map((t) => t.name));
  const metadata: Record<string, string> = {};
  for (const { key, value } of raw.metadata_props ?? []) if (key) metadata[key] = value ?? '';
  return {
    metadata,
    input: tensorOf((raw.graph.input ?? []).find((v) => !initializers.has(v.name))),
    output: tensorOf(raw.graph.output?.[0]),
  };
}

/** The model config fields a file can give. */
export type ModelFactField =
  | 'task'
  | 'classNames'
  | 'input'
  | 'resizeMode'
  | 'paddingValue'
  | 'postProcessing'
  | 'architecture'
  | 'description'
  | 'author';

/** Where a field came from: Ultralytics' `metadata_props`, or the graph's input and output shapes. */
export type FactSource = 'metadata' | 'graph';

/** The model config an ONNX file implies, field by field, with where each came from. */
export interface ModelFacts {
  task?: ModelRecord['task'];
  classNames?: string[];
  input?: { width: number; height: number };
  resizeMode?: ModelRecord['resizeMode'];
  paddingValue?: number;
  postProcessing?: ModelRecord['postProcessing'];
  architecture?: string;
  description?: string;
  author?: string;
  sources: Partial<Record<ModelFactField, FactSource>>;
  /**
   * Why a field could not be read (malformed metadata, a task not supported): reported only when
   * the config does not give the field either.
   */
  problems: Partial<Record<ModelFactField, string>>;
  /** classes the output layout implies, when it shows them */
  outputClasses?: number;
  /** the output shape, for messages */
  outputDims?: Dim[];
}

/** Ultralytics' `task` metadata → our task. */
const ULTRALYTICS_TASKS: Record<string, ModelRecord['task']> = {
  detect: 'object-detection',
  classify: 'classification',
};

const known = (d: Dim | undefined): d is number => typeof d === 'number' && d > 0;

/** `{0: 'person', 1: 'bicycle'}` (or a list) → names in index order. */
export function parseUltralyticsNames(text: string): string[] {
  const v = parsePythonLiteral(text);
  const asName = (x: PythonValue): string => {
    if (typeof x !== 'string' && typeof x !== 'number')
      throw new PythonLiteralError(`a class name must be a string, got ${String(x)}`);
    return String(x);
  };
  if (Array.isArray(v)) return v.map(asName);
  if (!(v instanceof Map)) throw new PythonLiteralError('expected a dict of index: name');
  const names: string[] = [];
  for (const [k, name] of v) {
    const index = typeof k === 'string' && /^\d+$/.test(k) ? Number(k) : k;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= v.size)
      throw new PythonLiteralError(`class indices must be 0..${v.size - 1}, got ${JSON.stringify(k)}`);
    names[index] = asName(name);
  }
  return names;
}

/** `[640, 640]` (height, width) or `640` → the input size. */
function parseImgsz(text: string): { width: number; height: number } {
  const v = parsePythonLiteral(text);
  const [h, w] = Array.isArray(v) ? v : [v, v];
  if (!Number.isInteger(h) || !Number.isInteger(w) || (h as number) < 1 || (w as number) < 1)
    throw new PythonLiteralError(`expected [height, width], got ${text}`);
  return { width: w as number, height: h as number };
}

/**
 * The model config an ONNX file implies. Ultralytics exports carry `names`, `imgsz`, `task`,
 * `description` and `author` in their metadata; the graph gives the input size (when static) and,
 * from the output layout, the task (`[B, 4 + C, N]` or an NMS-fused `[B, N, 6]`: detection;
 * `[B, C]`: classification) and the number of classes. Metadata wins over the graph for the task;
 * the graph's static input size wins over `imgsz` (it is what the model takes).
 */
export function modelFactsOf(info: OnnxModelInfo): ModelFacts {
  const md = info.metadata;
  const facts: ModelFacts = { sources: {}, problems: {} };
  const set = <K extends ModelFactField>(k: K, v: ModelFacts[K], source: FactSource) => {
    (facts as unknown as Record<string, unknown>)[k] = v;
    facts.sources[k] = source;
  };
  const read = <T>(field: ModelFactField, key: string, parse: (s: string) => T): T | undefined => {
    if (md[key] === undefined) return undefined;
    try {
      return parse(md[key]);
    } catch (err) {
      facts.problems[field] = `the model's "${key}" metadata cannot be read (${(err as Error).message})`;
      return undefined;
    }
  };

  const mdTask = md.task?.trim();
  if (mdTask !== undefined) {
    const task = ULTRALYTICS_TASKS[mdTask];
    if (task) set('task', task, 'metadata');
    else
      facts.problems.task = `the model's metadata says task "${mdTask}", which is not supported yet (supported: ${Object.keys(ULTRALYTICS_TASKS).join(', ')})`;
  }
  const names = read('classNames', 'names', parseUltralyticsNames);
  if (names) set('classNames', names, 'metadata');
  const imgsz = read('input', 'imgsz', parseImgsz);
  const inDims = info.input?.dims;
  if (inDims?.length === 4 && known(inDims[2]) && known(inDims[3]))
    set('input', { width: inDims[3], height: inDims[2] }, 'graph');
  else if (imgsz) set('input', imgsz, 'metadata');
  if (md.description) {
    set('description', md.description.slice(0, 2000), 'metadata');
    const arch = /\bYOLO(v?\d+)/i.exec(md.description);
    if (arch) set('architecture', `yolo${arch[1].toLowerCase()}`, 'metadata');
  }
  if (md.author) set('author', md.author.slice(0, 256), 'metadata');

  const out = info.output?.dims ?? undefined;
  if (out) facts.outputDims = out;
  if (out?.length === 3) {
    if (!facts.task && !facts.problems.task) set('task', 'object-detection', 'graph');
    if (facts.task === 'object-detection') {
      // An end-to-end export ([B, N, 6]: x1, y1, x2, y2, score, class) has NMS in the graph.
      const fused = out[2] === 6 && out[1] !== 6;
      set('postProcessing', fused ? 'nms-fused' : 'nms', 'graph');
      if (!fused && known(out[1])) facts.outputClasses = out[1] - 4;
    }
  } else if (out?.length === 2) {
    if (!facts.task && !facts.problems.task) set('task', 'classification', 'graph');
    if (known(out[1])) facts.outputClasses = out[1];
  }
  if (mdTask === 'detect') {
    // Ultralytics' own predictor letterboxes with grey 114.
    set('resizeMode', 'letterbox', 'metadata');
    set('paddingValue', 114, 'metadata');
  } else if (mdTask === 'classify') {
    // Exported classifiers end in a softmax; Ultralytics resizes the shortest edge, then centre-crops.
    set('postProcessing', 'softmax-fused', 'metadata');
    set('resizeMode', 'shortest-edge-center-crop', 'metadata');
  }
  return facts;
}
