import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATASET_IMAGE_SIZES, generateImageDataset, generateVideo, renderSquares } from './datasets.ts';
import { checkLayout, DET_SCALES, type SquareRect } from './shapes.ts';
import { buildShapesDet } from './shapes-det.ts';
import { decodeYolo, letterboxImage, matchDetections, session, toChw } from './test-helpers.ts';

let det: ort.InferenceSession;
let dir: string;

beforeAll(async () => {
  det = await session(buildShapesDet());
  dir = await mkdtemp(join(tmpdir(), 'vb-shapes-det-'));
});
afterAll(async () => {
  await det?.release();
  await rm(dir, { recursive: true, force: true });
});

async function runDet(data: Float32Array, n = 1) {
  const r = await det.run({ images: new ort.Tensor('float32', data, [n, 3, 640, 640]) });
  return r.output0;
}

/** Raw scores of a single 640x640 canvas with the given squares (no resize). */
async function maxScores(squares: SquareRect[]) {
  const raw = renderSquares(640, 640, squares);
  const out = await runDet(toChw(raw, 640, 640));
  return decodeYolo(out, 0, { scale: 1, padLeft: 0, padTop: 0, width: 640, height: 640 }, { conf: 0.05 });
}

describe('shapes-det on generated images (letterbox, bilinear)', () => {
  it('finds every square with the right class, within 2 px, for every aspect ratio', async () => {
    const ds = await generateImageDataset({ dir: join(dir, 'ds'), count: 24, seed: 1 });
    const perSize = new Map<string, { gt: number; tp: number }>();
    let worst = 0;
    for (const file of ds.files) {
      const lb = await letterboxImage(await readFile(join(ds.dir, file)));
      const dets = decodeYolo(await runDet(lb.data), 0, lb);
      const gts = ds.groundTruth[file];
      const m = matchDetections(dets, gts, 2);
      expect(m.missed, `${file} missed`).toEqual([]);
      expect(m.falsePositives, `${file} false positives`).toEqual([]);
      worst = Math.max(worst, ...m.errors);
      const key = `${lb.width}x${lb.height}`;
      const s = perSize.get(key) ?? { gt: 0, tp: 0 };
      s.gt += gts.length;
      s.tp += m.errors.length;
      perSize.set(key, s);
    }
    // Every aspect ratio of the generator was exercised; precision = recall = 1.
    expect([...perSize.keys()].sort()).toEqual(DATASET_IMAGE_SIZES.map(([w, h]) => `${w}x${h}`).sort());
    for (const [k, s] of perSize) expect(s.tp, k).toBe(s.gt);
    console.log(
      `shapes-det: ${[...perSize.values()].reduce((a, s) => a + s.tp, 0)} boxes, worst error ${worst} px`,
    );
  }, 30_000);

  it('batches: N=2 gives the same result as two N=1 runs', async () => {
    const a = toChw(renderSquares(640, 640, [{ classIndex: 0, x0: 100, y0: 100, size: 40 }]), 640, 640);
    const b = toChw(renderSquares(640, 640, [{ classIndex: 2, x0: 300, y0: 200, size: 90 }]), 640, 640);
    const both = new Float32Array(a.length * 2);
    both.set(a);
    both.set(b, a.length);
    const out2 = await runDet(both, 2);
    const geo = { scale: 1, padLeft: 0, padTop: 0, width: 640, height: 640 };
    expect(decodeYolo(out2, 0, geo)).toEqual(decodeYolo(await runDet(a), 0, geo));
    expect(decodeYolo(out2, 1, geo)).toEqual(decodeYolo(await runDet(b), 0, geo));
  });
});

describe('shapes-det size bands', () => {
  it('scores supported sizes > 0.8 with exact boxes, anywhere relative to the anchor grid', async () => {
    const sizes = [12, 16, 20, 24, 29, 30, 33, 40, 48, 57, 62, 64, 80, 96, 110, 126];
    for (const [i, size] of sizes.entries()) {
      const x0 = 37 + ((i * 7) % 32);
      const y0 = 311 + ((i * 13) % 32);
      const dets = await maxScores([{ classIndex: i % 3, x0, y0, size }]);
      expect(dets.length, `size ${size}`).toBe(1);
      expect(dets[0].score, `size ${size}`).toBeGreaterThan(0.8);
      expect(dets[0]).toMatchObject({
        x: Math.round(x0 + size / 2),
        y: Math.round(y0 + size / 2),
        width: size,
        height: size,
      });
    }
  });

  it('gives scores < 0.4 to squares outside the supported range', async () => {
    for (const size of [4, 7, 140, 200]) {
      const dets = await maxScores([{ classIndex: 1, x0: 200, y0: 200, size }]);
      expect(Math.max(0, ...dets.map((d) => d.score)), `size ${size}`).toBeLessThan(0.4);
    }
  });

  it('bands overlap and cover 12..126 px', () => {
    expect(DET_SCALES[0].band[0]).toBe(12);
    for (let i = 1; i < DET_SCALES.length; i++)
      expect(DET_SCALES[i].band[0]).toBeLessThanOrEqual(DET_SCALES[i - 1].band[1]);
    expect(DET_SCALES[DET_SCALES.length - 1].band[1]).toBe(126);
  });

  it('the analytic layout check agrees with the model (two close same-class squares are flagged)', async () => {
    const close: SquareRect[] = [
      { classIndex: 0, x0: 100, y0: 100, size: 30 },
      { classIndex: 0, x0: 140, y0: 100, size: 30 },
    ];
    expect(checkLayout(close).ok).toBe(false);
    const far: SquareRect[] = [
      { classIndex: 0, x0: 100, y0: 100, size: 30 },
      { classIndex: 0, x0: 400, y0: 400, size: 30 },
    ];
    expect(checkLayout(far).ok).toBe(true);
    expect((await maxScores(far)).filter((d) => d.score > 0.4)).toHaveLength(2);
  });
});

describe('shapes-det on the generated H.264 video', () => {
  it('detects every tracked square in sampled frames within 2 px', async () => {
    const v = await generateVideo({ path: join(dir, 'clip.mp4'), seconds: 1, fps: 30, seed: 3 });
    const { width, height } = v.groundTruth;
    const frames = await new Promise<Buffer>((resolve, reject) => {
      const p = spawn('ffmpeg', [
        '-v',
        'error',
        '-i',
        v.path,
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        'pipe:1',
      ]);
      const chunks: Buffer[] = [];
      p.stdout.on('data', (c: Buffer) => chunks.push(c));
      p.on('error', reject);
      p.on('close', (code) =>
        code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`ffmpeg ${code}`)),
      );
    });
    const frameBytes = width * height * 3;
    expect(frames.length / frameBytes).toBe(v.groundTruth.frameCount);
    for (const f of [0, 10, 20, 29]) {
      const raw = frames.subarray(f * frameBytes, (f + 1) * frameBytes);
      const lb = await letterboxImage({ raw, width, height });
      const dets = decodeYolo(await runDet(lb.data), 0, lb);
      const m = matchDetections(dets, v.groundTruth.frames[String(f)], 2);
      expect(m.missed, `frame ${f}`).toEqual([]);
      expect(m.falsePositives, `frame ${f}`).toEqual([]);
    }
  }, 30_000);
});
