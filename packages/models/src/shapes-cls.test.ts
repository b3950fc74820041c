import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImageDataset, renderSquares } from './datasets.ts';
import { CLASS_NAMES } from './shapes.ts';
import { buildShapesCls } from './shapes-cls.ts';
import { session, toChw } from './test-helpers.ts';

let cls: ort.InferenceSession;
let dir: string;
beforeAll(async () => {
  cls = await session(buildShapesCls());
  dir = await mkdtemp(join(tmpdir(), 'vb-shapes-cls-'));
});
afterAll(async () => {
  await cls?.release();
  await rm(dir, { recursive: true, force: true });
});

async function classify(rawRgb: Buffer[]): Promise<Float32Array[]> {
  const plane = 3 * 224 * 224;
  const data = new Float32Array(rawRgb.length * plane);
  for (const [i, r] of rawRgb.entries()) toChw(r, 224, 224, data, i * plane);
  const r = await cls.run({ images: new ort.Tensor('float32', data, [rawRgb.length, 3, 224, 224]) });
  const out = r.output0.data as Float32Array;
  return rawRgb.map((_, i) => out.subarray(i * 3, (i + 1) * 3));
}

describe('shapes-cls', () => {
  it('classifies crops of generated squares (10% margin, stretched to 224) with confidence > 0.9', async () => {
    const ds = await generateImageDataset({ dir, count: 8, seed: 7 });
    const crops: Buffer[] = [];
    const labels: string[] = [];
    for (const file of ds.files) {
      const buf = await readFile(join(dir, file));
      const meta = await sharp(buf).metadata();
      for (const g of ds.groundTruth[file]) {
        const m = 0.1 * g.width;
        const left = Math.max(0, Math.floor(g.x - g.width / 2 - m));
        const top = Math.max(0, Math.floor(g.y - g.height / 2 - m));
        const right = Math.min(meta.width!, Math.ceil(g.x + g.width / 2 + m));
        const bottom = Math.min(meta.height!, Math.ceil(g.y + g.height / 2 + m));
        const crop = await sharp(buf)
          .extract({ left, top, width: right - left, height: bottom - top })
          .resize(224, 224, { fit: 'fill', kernel: 'linear' })
          .removeAlpha()
          .raw()
          .toBuffer();
        crops.push(crop);
        labels.push(g.class);
      }
    }
    const probs = await classify(crops);
    probs.forEach((p, i) => {
      const best = p.indexOf(Math.max(...p));
      expect(CLASS_NAMES[best], `crop ${i}`).toBe(labels[i]);
      expect(p[best], `crop ${i}`).toBeGreaterThan(0.9);
      expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 5);
    });
  });

  it('a background-only image gives a uniform distribution; a half-covered one is confident', async () => {
    const [bg, half] = await classify([
      renderSquares(224, 224, []),
      renderSquares(224, 224, [{ classIndex: 1, x0: 40, y0: 40, size: 150 }]),
    ]);
    for (const v of bg) expect(v).toBeCloseTo(1 / 3, 3);
    expect(half[1]).toBeGreaterThan(0.99);
  });
});
