import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, MODEL_NAMES, type ModelName, modelConfig, writeModels } from './models.ts';
import { session } from './test-helpers.ts';
import { buildYolov8nArchGraph } from './yolov8n.ts';

const EXPECTED: Record<ModelName, { input: number[]; output: (n: number) => number[] }> = {
  'shapes-det': { input: [3, 640, 640], output: (n) => [n, 7, 8400] },
  'yolov8n-arch': { input: [3, 640, 640], output: (n) => [n, 84, 8400] },
  'shapes-cls': { input: [3, 224, 224], output: (n) => [n, 3] },
};

/** Deterministic smooth test input (gradient + a few blocks). */
function input(n: number, c: number, h: number, w: number): ort.Tensor {
  const data = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const block = ((x >> 6) + (y >> 6) + ch + b) % 3 === 0 ? 0.3 : 0;
          data[((b * c + ch) * h + y) * w + x] = Math.min(1, (x + y) / (w + h) + block);
        }
  return new ort.Tensor('float32', data, [n, c, h, w]);
}

describe('models', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vb-models-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const name of MODEL_NAMES) {
    it(`${name} loads in onnxruntime and gives the declared shapes for N=1 and N=2`, async () => {
      const s = await session(buildModel(name));
      expect(s.inputNames).toEqual(['images']);
      expect(s.outputNames).toEqual(['output0']);
      const e = EXPECTED[name];
      const [c, h, w] = e.input;
      for (const n of [1, 2]) {
        const r = await s.run({ images: input(n, c, h, w) });
        expect(r.output0.dims).toEqual(e.output(n));
        const data = r.output0.data as Float32Array;
        expect(data.every(Number.isFinite)).toBe(true);
      }
      await s.release();
    }, 30_000);
  }

  it('yolov8n-arch has the YOLOv8n cost and sane outputs', async () => {
    const info = buildYolov8nArchGraph({ seed: 0 });
    console.log(
      `yolov8n-arch: ${info.gflops.toFixed(3)} GFLOPs (2 x ${(info.macs / 1e9).toFixed(3)} G MACs), ` +
        `${(info.params / 1e6).toFixed(3)} M params, ${info.convs.length} convs, ${info.anchors} anchors`,
    );
    expect(info.gflops).toBeGreaterThan(8.5);
    expect(info.gflops).toBeLessThan(8.9);
    expect(info.params).toBeGreaterThan(3.1e6);
    expect(info.params).toBeLessThan(3.2e6);
    expect(info.convs.length).toBe(63); // YOLOv8n has 63 learned convs (+ the fixed DFL one, a MatMul here)
  });

  it('yolov8n-arch outputs: boxes inside a sane range, scores in [0, 1], varied across anchors', async () => {
    const s = await session(buildModel('yolov8n-arch'));
    const r = await s.run({ images: input(1, 3, 640, 640) });
    const d = r.output0.data as Float32Array;
    const A = 8400;
    let minW = Infinity;
    let maxW = -Infinity;
    for (let a = 0; a < A; a++) {
      const w = d[2 * A + a];
      minW = Math.min(minW, w);
      maxW = Math.max(maxW, w);
      expect(w).toBeGreaterThanOrEqual(0);
      expect(w).toBeLessThanOrEqual(30 * 32 + 1e-3);
    }
    expect(maxW - minW).toBeGreaterThan(10);
    const scores = d.subarray(4 * A);
    expect(scores.every((v) => v >= 0 && v <= 1)).toBe(true);
    // Plain images give few, if any, candidates above 0.25 (keeps NMS cheap in benchmarks).
    expect(scores.filter((v) => v > 0.25).length).toBeLessThan(1000);
    await s.release();
  }, 30_000);

  it('writeModels writes <name>.onnx + <name>.json with the documented config fields', async () => {
    const written = await writeModels(dir, { names: ['shapes-det', 'shapes-cls'] });
    expect((await readdir(dir)).sort()).toEqual([
      'shapes-cls.json',
      'shapes-cls.onnx',
      'shapes-det.json',
      'shapes-det.onnx',
    ]);
    const det = JSON.parse(await readFile(join(dir, 'shapes-det.json'), 'utf8'));
    expect(det).toMatchObject({
      task: 'object-detection',
      architecture: 'yolov8',
      classNames: ['red', 'green', 'blue'],
      input: { width: 640, height: 640 },
      resizeMode: 'letterbox',
      paddingValue: 114,
      postProcessing: 'nms',
    });
    const cls = JSON.parse(await readFile(join(dir, 'shapes-cls.json'), 'utf8'));
    expect(cls).toMatchObject({
      task: 'classification',
      classNames: ['red', 'green', 'blue'],
      input: { width: 224, height: 224 },
      resizeMode: 'stretch',
      postProcessing: 'softmax-fused',
    });
    expect(modelConfig('yolov8n-arch').classNames).toHaveLength(80);
    expect(written.map((w) => w.bytes)).toEqual([
      (await readFile(join(dir, 'shapes-det.onnx'))).length,
      (await readFile(join(dir, 'shapes-cls.onnx'))).length,
    ]);
  });
});
