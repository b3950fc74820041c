import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { f32, GraphBuilder } from './graph.ts';
import { buildModel, MODEL_NAMES, sha256 } from './models.ts';
import { decodeModel } from './onnx.ts';

describe('ONNX writer', () => {
  it('builds a small graph that onnxruntime loads and runs', async () => {
    const g = new GraphBuilder('tiny');
    const x = g.input('x', ['N', 2, 3]);
    const y = g.reshape(g.add(x, g.constF([1, 2, 3], [3])), [0, 6]);
    const z = g.op('LeakyRelu', [g.mul(y, g.constF([-1], []))], { alpha: f32(0.5) }, 'z');
    g.output(z, ['N', 6]);
    const bytes = g.build({ metadata: { purpose: 'test' } });
    const s = await ort.InferenceSession.create(bytes);
    expect(s.inputNames).toEqual(['x']);
    expect(s.outputNames).toEqual(['z']);
    const r = await s.run({
      x: new ort.Tensor('float32', Float32Array.from([0, 1, 2, -5, -6, -7]), [1, 2, 3]),
    });
    expect(r.z.dims).toEqual([1, 6]);
    expect(Array.from(r.z.data as Float32Array)).toEqual([-0.5, -1.5, -2.5, 4, 4, 4]);

    const decoded = decodeModel(bytes) as {
      ir_version: number;
      opset_import: { version: number }[];
      graph: { node: { op_type: string }[]; input: { name: string }[] };
      metadata_props: { key: string; value: string }[];
    };
    expect(decoded.ir_version).toBe(8);
    expect(decoded.opset_import[0].version).toBe(17);
    expect(decoded.graph.node.map((n) => n.op_type)).toEqual(['Add', 'Reshape', 'Mul', 'LeakyRelu']);
    expect(decoded.metadata_props).toEqual([{ key: 'purpose', value: 'test' }]);
  });

  it('is deterministic: two builds of every model have the same sha256', () => {
    for (const name of MODEL_NAMES) {
      const a = sha256(buildModel(name));
      const b = sha256(buildModel(name));
      expect(a, name).toBe(b);
    }
    // A different seed changes the random weights.
    expect(sha256(buildModel('yolov8n-arch', { seed: 1 }))).not.toBe(
      sha256(buildModel('yolov8n-arch', { seed: 0 })),
    );
  }, 30_000);
});
