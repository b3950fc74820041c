/**
 * A small, deterministic ONNX graph builder. Names are generated from a counter,
 * initializers are stored as little-endian `raw_data`, and nothing depends on time
 * or randomness, so building the same graph twice yields identical bytes.
 */
import {
  type AttributeProtoJson,
  AttributeType,
  DataType,
  type DimensionJson,
  encodeModel,
  type ModelProtoJson,
  type NodeProtoJson,
  type TensorProtoJson,
  type ValueInfoProtoJson,
} from './onnx.ts';

/** Wraps a number that must be written as a FLOAT attribute even if it is integral. */
export class FloatAttr {
  constructor(readonly value: number) {}
}
/** Wraps a list that must be written as FLOATS. */
export class FloatsAttr {
  constructor(readonly values: readonly number[]) {}
}
/** Wraps a tensor attribute (e.g. for Constant / ConstantOfShape). */
export class TensorAttr {
  constructor(readonly tensor: TensorProtoJson) {}
}

/** number → INT (or FLOAT when not an integer), number[] → INTS, string → STRING. */
export type AttrValue = number | readonly number[] | string | FloatAttr | FloatsAttr | TensorAttr;
export type Attrs = Record<string, AttrValue | undefined>;

export const f32 = (v: number): FloatAttr => new FloatAttr(v);
export const f32s = (v: readonly number[]): FloatsAttr => new FloatsAttr(v);

export type Dim = number | string;
export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export interface ModelOptions {
  opset?: number;
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  modelVersion?: number;
  metadata?: Record<string, string>;
}

export const DEFAULT_OPSET = 17;
/** IR version 8 corresponds to opset 17. */
export const DEFAULT_IR_VERSION = 8;

function encodeAttr(name: string, v: AttrValue): AttributeProtoJson {
  if (v instanceof FloatAttr) return { name, type: AttributeType.FLOAT, f: v.value };
  if (v instanceof FloatsAttr) return { name, type: AttributeType.FLOATS, floats: [...v.values] };
  if (v instanceof TensorAttr) return { name, type: AttributeType.TENSOR, t: v.tensor };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    return Number.isInteger(v)
      ? { name, type: AttributeType.INT, i: v }
      : { name, type: AttributeType.FLOAT, f: v };
  }
  if (v.every((x) => Number.isInteger(x))) return { name, type: AttributeType.INTS, ints: [...v] };
  return { name, type: AttributeType.FLOATS, floats: [...v] };
}

/** Little-endian bytes of a typed array (independent of host endianness). */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function toRawData(data: TensorData): Uint8Array {
  if (HOST_LITTLE_ENDIAN)
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new Uint8Array(data.length * data.BYTES_PER_ELEMENT);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array)
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  else if (data instanceof Int32Array)
    for (let i = 0; i < data.length; i++) view.setInt32(i * 4, data[i], true);
  else if (data instanceof BigInt64Array)
    for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, data[i], true);
  else out.set(data);
  return out;
}

function dataTypeOf(data: TensorData): number {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof Int32Array) return DataType.INT32;
  if (data instanceof BigInt64Array) return DataType.INT64;
  return DataType.BOOL;
}

function valueInfo(name: string, elemType: number, shape?: readonly Dim[]): ValueInfoProtoJson {
  const dim: DimensionJson[] | undefined = shape?.map((d) =>
    typeof d === 'number' ? { dim_value: d } : { dim_param: d },
  );
  return { name, type: { tensor_type: { elem_type: elemType, ...(dim ? { shape: { dim } } : {}) } } };
}

export interface ConvOptions {
  /** Weight [outC, inC/group, kH, kW]. */
  weight: Float32Array;
  bias?: Float32Array;
  outChannels: number;
  inChannels: number;
  kernel: number | [number, number];
  stride?: number;
  pad?: number | [number, number, number, number];
  group?: number;
  name?: string;
}

export interface PoolOptions {
  kernel: [number, number];
  strides?: [number, number];
  /** [top, left, bottom, right] */
  pads?: [number, number, number, number];
  countIncludePad?: boolean;
}

export class GraphBuilder {
  readonly nodes: NodeProtoJson[] = [];
  readonly initializers: TensorProtoJson[] = [];
  readonly inputs: ValueInfoProtoJson[] = [];
  readonly outputs: ValueInfoProtoJson[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh, unique value name derived from `hint`. */
  uniqueName(hint: string): string {
    let name = hint;
    while (this.used.has(name)) name = `${hint}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  input(name: string, shape: readonly Dim[], elemType: number = DataType.FLOAT): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, elemType, shape));
    return name;
  }

  /** Declare `value` (already produced by a node) as a graph output. */
  output(value: string, shape?: readonly Dim[], elemType: number = DataType.FLOAT): string {
    this.outputs.push(valueInfo(value, elemType, shape));
    return value;
  }

  /** Add an initializer tensor and return its name. */
  initializer(data: TensorData, dims: readonly number[], hint = 'const'): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (expected !== data.length)
      throw new Error(`initializer ${hint}: dims ${dims} vs ${data.length} values`);
    const name = this.uniqueName(hint);
    this.initializers.push({ name, dims: [...dims], data_type: dataTypeOf(data), raw_data: toRawData(data) });
    return name;
  }

  /** Float constant; `dims` defaults to a 1-D tensor (use [] for a scalar). */
  constF(values: readonly number[] | Float32Array, dims?: readonly number[], hint = 'cf'): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    return this.initializer(data, dims ?? [data.length], hint);
  }

  /** int64 constant (shapes, axes, indices). */
  constI64(values: readonly number[], dims?: readonly number[], hint = 'ci'): string {
    return this.initializer(BigInt64Array.from(values.map((v) => BigInt(v))), dims ?? [values.length], hint);
  }

  /** Add a node; returns its output names. */
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Attrs = {},
    opts: { outputs?: number | readonly string[]; name?: string } = {},
  ): string[] {
    const nodeName = this.uniqueName(opts.name ?? opType.toLowerCase());
    const spec = opts.outputs ?? 1;
    let outs: string[];
    if (typeof spec === 'number') {
      outs = Array.from({ length: spec }, (_, i) => this.uniqueName(`${nodeName}_out${spec > 1 ? i : ''}`));
    } else {
      outs = [...spec];
      for (const o of outs) this.used.add(o);
    }
    const attribute = Object.entries(attrs)
      .filter((e): e is [string, AttrValue] => e[1] !== undefined)
      .map(([k, v]) => encodeAttr(k, v));
    this.nodes.push({
      input: [...inputs],
      output: outs,
      name: nodeName,
      op_type: opType,
      ...(attribute.length ? { attribute } : {}),
    });
    return outs;
  }

  /** Single-output node. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, out?: string): string {
    return this.node(opType, inputs, attrs, out ? { outputs: [out] } : {})[0];
  }

  // ----- convenience wrappers -----
  add(a: string, b: string, out?: string) {
    return this.op('Add', [a, b], {}, out);
  }
  sub(a: string, b: string, out?: string) {
    return this.op('Sub', [a, b], {}, out);
  }
  mul(a: string, b: string, out?: string) {
    return this.op('Mul', [a, b], {}, out);
  }
  div(a: string, b: string, out?: string) {
    return this.op('Div', [a, b], {}, out);
  }
  max(a: string, b: string, out?: string) {
    return this.op('Max', [a, b], {}, out);
  }
  relu(x: string, out?: string) {
    return this.op('Relu', [x], {}, out);
  }
  abs(x: string, out?: string) {
    return this.op('Abs', [x], {}, out);
  }
  sqrt(x: string, out?: string) {
    return this.op('Sqrt', [x], {}, out);
  }
  sigmoid(x: string, out?: string) {
    return this.op('Sigmoid', [x], {}, out);
  }
  /** SiLU as x * Sigmoid(x). */
  silu(x: string, out?: string) {
    return this.mul(x, this.sigmoid(x), out);
  }
  clip(x: string, min: number, max: number, out?: string) {
    return this.op(
      'Clip',
      [x, this.constF([min], [], 'clip_min'), this.constF([max], [], 'clip_max')],
      {},
      out,
    );
  }
  concat(xs: readonly string[], axis: number, out?: string) {
    return this.op('Concat', xs, { axis }, out);
  }
  reshape(x: string, shape: readonly number[], out?: string) {
    return this.op('Reshape', [x, this.constI64(shape, undefined, 'shape')], {}, out);
  }
  transpose(x: string, perm: readonly number[], out?: string) {
    return this.op('Transpose', [x], { perm }, out);
  }
  softmax(x: string, axis: number, out?: string) {
    return this.op('Softmax', [x], { axis }, out);
  }
  split(x: string, sizes: readonly number[], axis: number): string[] {
    return this.node(
      'Split',
      [x, this.constI64(sizes, undefined, 'split')],
      { axis },
      { outputs: sizes.length },
    );
  }
  slice(
    x: string,
    starts: readonly number[],
    ends: readonly number[],
    axes: readonly number[],
    out?: string,
  ) {
    return this.op('Slice', [x, this.constI64(starts), this.constI64(ends), this.constI64(axes)], {}, out);
  }
  reduceSum(x: string, axes: readonly number[], keepdims = true, out?: string) {
    return this.op(
      'ReduceSum',
      [x, this.constI64(axes, undefined, 'axes')],
      { keepdims: keepdims ? 1 : 0 },
      out,
    );
  }

  conv(x: string, o: ConvOptions): string {
    const [kh, kw] = typeof o.kernel === 'number' ? [o.kernel, o.kernel] : o.kernel;
    const group = o.group ?? 1;
    const wDims = [o.outChannels, o.inChannels / group, kh, kw];
    const w = this.initializer(o.weight, wDims, `${o.name ?? 'conv'}.weight`);
    const inputs = [x, w];
    if (o.bias) inputs.push(this.initializer(o.bias, [o.outChannels], `${o.name ?? 'conv'}.bias`));
    const p = o.pad ?? 0;
    const pads = typeof p === 'number' ? [p, p, p, p] : p;
    return this.node(
      'Conv',
      inputs,
      {
        kernel_shape: [kh, kw],
        strides: [o.stride ?? 1, o.stride ?? 1],
        pads,
        dilations: [1, 1],
        group,
      },
      { name: o.name },
    )[0];
  }

  averagePool(x: string, o: PoolOptions, out?: string): string {
    return this.op(
      'AveragePool',
      [x],
      {
        kernel_shape: o.kernel,
        strides: o.strides ?? [1, 1],
        pads: o.pads ?? [0, 0, 0, 0],
        count_include_pad: o.countIncludePad ? 1 : 0,
      },
      out,
    );
  }

  maxPool(x: string, o: PoolOptions, out?: string): string {
    return this.op(
      'MaxPool',
      [x],
      { kernel_shape: o.kernel, strides: o.strides ?? [1, 1], pads: o.pads ?? [0, 0, 0, 0] },
      out,
    );
  }

  /** Assemble the ModelProto object. */
  toModel(opts: ModelOptions = {}): ModelProtoJson {
    const metadata = Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value }));
    return {
      ir_version: opts.irVersion ?? DEFAULT_IR_VERSION,
      opset_import: [{ domain: '', version: opts.opset ?? DEFAULT_OPSET }],
      producer_name: opts.producerName ?? '@visionbatch/models',
      producer_version: opts.producerVersion ?? '0.1.0',
      model_version: opts.modelVersion ?? 1,
      ...(opts.docString ? { doc_string: opts.docString } : {}),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      ...(metadata.length ? { metadata_props: metadata } : {}),
    };
  }

  /** Serialise to ONNX bytes. */
  build(opts: ModelOptions = {}): Uint8Array {
    return encodeModel(this.toModel(opts));
  }
}
