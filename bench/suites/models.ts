import os from 'node:os';
import { buildShapesDet, buildYolov8nArch } from '@visionbatch/models';
import ort from 'onnxruntime-node';
import type { Suite } from './index.ts';

/** Images per second of one model with one session at a thread count (median of `runs`). */
async function throughput(bytes: Uint8Array, threads: number, runs = 3, seconds = 3): Promise<number> {
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  });
  const input = new ort.Tensor('float32', new Float32Array(3 * 640 * 640).fill(0.5), [1, 3, 640, 640]);
  for (let i = 0; i < 3; i++) await session.run({ images: input });
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < seconds * 1000) {
      await session.run({ images: input });
      n++;
    }
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  await session.release();
  rates.sort((a, b) => a - b);
  return Number(rates[Math.floor(rates.length / 2)].toFixed(2));
}

/** Model-only throughput of the generated models (the ceiling the worker suite compares against). */
export const modelsSuite: Suite = {
  describe:
    'Model-only ORT throughput (img/s, batch 1, 640×640), one session, 1 thread and all cores; median of 3 runs of 3 s.',
  async run() {
    const cores = os.availableParallelism();
    const det = buildShapesDet();
    const yolo = buildYolov8nArch(0);
    const out = {
      cores,
      shapesDet: { threads1: await throughput(det, 1), threadsAll: await throughput(det, cores) },
      yolov8nArch: { threads1: await throughput(yolo, 1), threadsAll: await throughput(yolo, cores) },
    };
    console.error(JSON.stringify(out));
    return out;
  },
};
