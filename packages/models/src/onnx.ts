/**
 * Minimal ONNX serialisation: loads the hand-written `onnx.proto` subset with
 * protobufjs and encodes plain JS objects into ModelProto bytes.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

/** TensorProto.DataType values used by the builders. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  DOUBLE: 11,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

export interface TensorProtoJson {
  name?: string;
  dims: number[];
  data_type: number;
  raw_data?: Uint8Array;
}

export interface AttributeProtoJson {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProtoJson;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}

export interface NodeProtoJson {
  input: string[];
  output: string[];
  name?: string;
  op_type: string;
  domain?: string;
  attribute?: AttributeProtoJson[];
}

export interface DimensionJson {
  dim_value?: number;
  dim_param?: string;
}

export interface ValueInfoProtoJson {
  name: string;
  type: { tensor_type: { elem_type: number; shape?: { dim: DimensionJson[] } } };
  doc_string?: string;
}

export interface GraphProtoJson {
  name: string;
  node: NodeProtoJson[];
  initializer: TensorProtoJson[];
  input: ValueInfoProtoJson[];
  output: ValueInfoProtoJson[];
  doc_string?: string;
}

export interface ModelProtoJson {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: number;
  doc_string?: string;
  graph: GraphProtoJson;
  metadata_props?: { key: string; value: string }[];
}

let modelType: protobuf.Type | undefined;

/** The protobufjs type for onnx.ModelProto (schema parsed once, lazily). */
export function onnxModelType(): protobuf.Type {
  if (!modelType) {
    const source = readFileSync(new URL('./onnx.proto', import.meta.url), 'utf8');
    const root = protobuf.parse(source, { keepCase: true }).root;
    modelType = root.lookupType('onnx.ModelProto');
  }
  return modelType;
}

/** Serialise a model object into ONNX protobuf bytes (deterministic for equal input). */
export function encodeModel(model: ModelProtoJson): Uint8Array {
  const type = onnxModelType();
  const err = type.verify(model);
  if (err) throw new Error(`invalid ModelProto: ${err}`);
  const bytes = type.encode(type.fromObject(model)).finish();
  // Copy into a standalone, tightly sized buffer.
  return new Uint8Array(bytes);
}

/** Decode ONNX bytes back into a plain object (used by tests and tooling). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const type = onnxModelType();
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<
    string,
    unknown
  >;
}
