import { describe, expect, it } from 'vitest';
import { ExecutionProviderUnavailableError, ModelMismatchError } from './errors.ts';
import { checkOutputShape, createSession, OnnxModel, OrtModelRuntime } from './model-runtime.ts';
import { modelRecord } from './testing/records.ts';
import { channelClassifier, constantModel, gridDetector } from './testing/tiny-models.ts';

const CPU = { machineType: 'cpu' as const, intraOpNumThreads: 1 };

describe('OnnxModel', () => {
  it('loads a detector, checks it and runs batches in order', async () => {
    const rec = modelRecord({ input: { width: 64, height: 64 } });
    const out = Float32Array.from({ length: 7 * 5 }, (_, i) => i);
    const session = await createSession(
      constantModel({ width: 64, height: 64, outputDims: [1, 7, 5], output: out }),
      CPU,
    );
    const model = await OnnxModel.bind(rec, session, { maxBatch: 2 });
    const inputs = [0, 1, 2].map(() => new Float32Array(3 * 64 * 64));
    const res = await model.infer(inputs);
    expect(res).toHaveLength(3);
    for (const r of res) {
      expect(r.dims).toEqual([1, 7, 5]);
      expect([...r.data]).toEqual([...out]);
    }
  });

  it('pads the last chunk of a static-batch model', async () => {
    const rec = modelRecord({ input: { width: 32, height: 32 } });
    const session = await createSession(gridDetector({ width: 32, height: 32, cell: 16 }), CPU);
    const model = await OnnxModel.bind(rec, session);
    const red = new Float32Array(3 * 32 * 32);
    red.fill(1, 0, 32 * 32);
    const [a, b] = await model.infer([red, new Float32Array(3 * 32 * 32)]);
    expect(a.dims).toEqual([1, 7, 4]);
    expect([...a.data.subarray(16, 20)]).toEqual([1, 1, 1, 1]); // red scores of the 4 cells
    expect([...b.data.subarray(16, 20)]).toEqual([0, 0, 0, 0]);
  });

  it('refuses a detector whose output does not fit the class names', async () => {
    const rec = modelRecord({ input: { width: 32, height: 32 }, classNames: ['a', 'b'] });
    const session = await createSession(gridDetector({ width: 32, height: 32, cell: 16 }), CPU);
    await expect(OnnxModel.bind(rec, session)).rejects.toThrow(ModelMismatchError);
    await expect(OnnxModel.bind(rec, session)).rejects.toThrow(/\[1, 7, 4\] does not fit 2 class names/);
  });

  it('refuses an input size that differs from the record', async () => {
    const session = await createSession(gridDetector({ width: 32, height: 32, cell: 16 }), CPU);
    await expect(OnnxModel.bind(modelRecord({ input: { width: 64, height: 64 } }), session)).rejects.toThrow(
      /does not match the registered size 64x64/,
    );
  });

  it('refuses a classifier registered as a detector and the reverse', async () => {
    const cls = await createSession(channelClassifier({ width: 16, height: 16 }), CPU);
    await expect(OnnxModel.bind(modelRecord({ input: { width: 16, height: 16 } }), cls)).rejects.toThrow(
      /rank 3/,
    );
    const ok = await OnnxModel.bind(
      modelRecord({ input: { width: 16, height: 16 }, task: 'classification', postProcessing: 'softmax' }),
      cls,
    );
    expect(ok.record.task).toBe('classification');
    const det = await createSession(gridDetector({ width: 32, height: 32, cell: 16 }), CPU);
    await expect(
      OnnxModel.bind(
        modelRecord({ input: { width: 32, height: 32 }, task: 'classification', postProcessing: 'softmax' }),
        det,
      ),
    ).rejects.toThrow(/\[B, C\]/);
  });

  it('explains transposed and segmentation layouts', () => {
    const rec = modelRecord({ classNames: Array.from({ length: 80 }, (_, i) => String(i)) });
    expect(checkOutputShape(rec, [1, 8400, 84])).toMatch(/transposed/);
    expect(checkOutputShape(rec, [1, 116, 8400])).toMatch(/instance segmentation/);
    expect(checkOutputShape(rec, [1, 84, 8400])).toBeNull();
    expect(checkOutputShape(rec, ['batch', 84, 'anchors'])).toBeNull();
    expect(checkOutputShape({ ...rec, postProcessing: 'nms-fused' }, [1, 300, 6])).toBeNull();
  });
});

describe('createSession', () => {
  it('asks for CUDA on gpu machines and fails loudly when it is unavailable', async () => {
    const bytes = constantModel({ width: 8, height: 8, outputDims: [1, 2], output: [0, 1] });
    try {
      const s = await createSession(bytes, { machineType: 'gpu', intraOpNumThreads: 1 });
      await s.release(); // a CUDA-enabled build on a GPU machine
    } catch (e) {
      expect(e).toBeInstanceOf(ExecutionProviderUnavailableError);
    }
  });
});

describe('OrtModelRuntime', () => {
  it('loads records by model id and shares sessions of identical weights', async () => {
    const bytes = gridDetector({ width: 32, height: 32, cell: 16 });
    let loads = 0;
    const base = modelRecord({ input: { width: 32, height: 32 }, weightsSha256: 'abc' });
    const runtime = await OrtModelRuntime.load(
      { 'proj/1': base, alias: { ...base, modelId: 'alias' } },
      async () => {
        loads++;
        return bytes;
      },
      CPU,
    );
    expect(loads).toBe(1);
    expect(runtime.model('alias').record.modelId).toBe('alias');
    expect(() => runtime.model('nope')).toThrow(/not loaded/);
    await runtime.release();
  });
});
