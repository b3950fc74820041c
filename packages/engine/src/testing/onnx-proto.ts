/**
 * A minimal ONNX (protobuf) writer for test models. It knows only the handful of messages a tiny
 * graph needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto), so
 * tests can build models whose outputs are known exactly, without Python or model downloads.
 *
 * Field numbers follow onnx/onnx.proto (IR version 7, default opset domain).
 */

class Writer {
  private readonly parts: Buffer[] = [];

  varint(field: number, value: number | bigint): this {
    this.key(field, 0);
    this.rawVarint(BigInt(value));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.rawVarint(BigInt(value.length));
    this.parts.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    this.parts.push(b);
    return this;
  }

  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }

  private key(field: number, wireType: number): void {
    this.rawVarint(BigInt((field << 3) | wireType));
  }

  private rawVarint(v: bigint): void {
    // int64 fields encode negatives as 10-byte two's complement varints.
    let x = v < 0n ? (1n << 64n) + v : v;
    const out: number[] = [];
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) byte |= 0x80;
      out.push(byte);
    } while (x > 0n);
    this.parts.push(Buffer.from(out));
  }
}

/** ONNX tensor element types used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

export interface TensorSpec {
  name: string;
  dims: number[];
  dataType: number;
  data: Float32Array | BigInt64Array;
}

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'float'; value: number }
  | { kind: 'tensor'; value: TensorSpec };

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: Record<string, AttributeValue>;
}

export interface ValueSpec {
  name: string;
  elemType: number;
  /** numbers are fixed sizes; strings are symbolic dimensions */
  shape: Array<number | string>;
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  opset?: number;
}

function tensor(t: TensorSpec): Writer {
  const w = new Writer();
  for (const d of t.dims) w.varint(1, d);
  w.varint(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return w;
}

function attribute(name: string, a: AttributeValue): Writer {
  const w = new Writer().string(1, name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value).varint(20, 1);
      break;
    case 'int':
      w.varint(3, a.value).varint(20, 2);
      break;
    case 'tensor':
      w.message(5, tensor(a.value)).varint(20, 4);
      break;
    case 'ints':
      for (const v of a.value) w.varint(8, v);
      w.varint(20, 7);
      break;
  }
  return w;
}

function valueInfo(v: ValueSpec): Writer {
  const shape = new Writer();
  for (const d of v.shape) {
    const dim = new Writer();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new Writer().varint(1, v.elemType).message(2, shape);
  const type = new Writer().message(1, tensorType);
  return new Writer().string(1, v.name).message(2, type);
}

/** Serialises a graph into ONNX model bytes that onnxruntime can load. */
export function encodeModel(g: GraphSpec): Buffer {
  const graph = new Writer();
  g.nodes.forEach((n, i) => {
    const node = new Writer();
    for (const input of n.inputs) node.string(1, input);
    for (const output of n.outputs) node.string(2, output);
    node.string(3, n.name ?? `${n.opType}_${i}`);
    node.string(4, n.opType);
    for (const [name, a] of Object.entries(n.attributes ?? {})) node.message(5, attribute(name, a));
    graph.message(1, node);
  });
  graph.string(2, g.name);
  for (const t of g.initializers) graph.message(5, tensor(t));
  for (const v of g.inputs) graph.message(11, valueInfo(v));
  for (const v of g.outputs) graph.message(12, valueInfo(v));
  const opset = new Writer().string(1, '').varint(2, g.opset ?? 13);
  return new Writer()
    .varint(1, 7)
    .string(2, 'visionbatch-tests')
    .message(7, graph)
    .message(8, opset)
    .finish();
}

/** A float32 initializer. */
export function floatTensor(name: string, dims: number[], data: ArrayLike<number>): TensorSpec {
  return { name, dims, dataType: DataType.FLOAT, data: Float32Array.from(data) };
}

/** An int64 initializer. */
export function int64Tensor(name: string, dims: number[], data: number[]): TensorSpec {
  return { name, dims, dataType: DataType.INT64, data: BigInt64Array.from(data.map(BigInt)) };
}
