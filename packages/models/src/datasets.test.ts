import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImageDataset, generateJpegCorpus, generateVideo } from './datasets.ts';
import { CLASS_NAMES, letterbox, RECOMMENDED_SIZE_BANDS } from './shapes.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vb-datasets-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function hashDir(d: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(d)).sort())
    out[f] = createHash('sha256')
      .update(await readFile(join(d, f)))
      .digest('hex');
  return out;
}

describe('generateImageDataset', () => {
  it('is deterministic from the seed and writes consistent ground truth', async () => {
    const a = await generateImageDataset({ dir: join(dir, 'a'), count: 10, seed: 5 });
    await generateImageDataset({ dir: join(dir, 'b'), count: 10, seed: 5 });
    await generateImageDataset({ dir: join(dir, 'c'), count: 10, seed: 6 });
    const ha = await hashDir(join(dir, 'a'));
    expect(await hashDir(join(dir, 'b'))).toEqual(ha);
    expect(await hashDir(join(dir, 'c'))).not.toEqual(ha);

    const gt = JSON.parse(await readFile(a.groundTruthPath, 'utf8'));
    expect(Object.keys(gt)).toEqual(a.files);
    expect(a.files.some((f) => f.endsWith('.png'))).toBe(true);
    expect(a.files.some((f) => f.endsWith('.jpg'))).toBe(true);
    for (const file of a.files) {
      const meta = await sharp(join(dir, 'a', file)).metadata();
      const boxes = gt[file] as { class: string; x: number; y: number; width: number; height: number }[];
      expect(boxes.length).toBeGreaterThanOrEqual(1);
      expect(boxes.length).toBeLessThanOrEqual(4);
      const lb = letterbox(meta.width!, meta.height!);
      for (const b of boxes) {
        expect(CLASS_NAMES).toContain(b.class);
        expect(b.width).toBe(b.height);
        expect(b.x - b.width / 2).toBeGreaterThanOrEqual(0);
        expect(b.x + b.width / 2).toBeLessThanOrEqual(meta.width!);
        expect(b.y + b.height / 2).toBeLessThanOrEqual(meta.height!);
        const side640 = b.width * lb.scale;
        expect(RECOMMENDED_SIZE_BANDS.some(([lo, hi]) => side640 >= lo - 1 && side640 <= hi + 1)).toBe(true);
      }
      // Squares never overlap.
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const p = boxes[i];
          const q = boxes[j];
          const apartX = Math.abs(p.x - q.x) >= (p.width + q.width) / 2;
          const apartY = Math.abs(p.y - q.y) >= (p.height + q.height) / 2;
          expect(apartX || apartY).toBe(true);
        }
    }
  });
});

describe('generateVideo', () => {
  it('writes an H.264 yuv420p MP4 with per-frame ground truth and stable track ids', async () => {
    const path = join(dir, 'v', 'clip.mp4');
    const r = await generateVideo({ path, seconds: 1, fps: 30, seed: 2 });
    const probe = JSON.parse(
      execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-count_frames', '-of', 'json', path], {
        encoding: 'utf8',
      }),
    ).streams[0];
    expect(probe.codec_name).toBe('h264');
    expect(probe.pix_fmt).toBe('yuv420p');
    expect([probe.width, probe.height]).toEqual([640, 360]);
    expect(Number(probe.nb_read_frames)).toBe(30);
    expect(r.groundTruthPath).toBe(join(dir, 'v', 'clip.json'));
    const gt = JSON.parse(await readFile(r.groundTruthPath, 'utf8'));
    expect(gt.frameCount).toBe(30);
    expect(Object.keys(gt.frames)).toHaveLength(30);
    const ids = (f: string) => gt.frames[f].map((b: { trackId: number }) => b.trackId);
    expect(ids('29')).toEqual(ids('0'));
    // Constant velocity: consecutive positions move by a few px at most.
    for (let f = 1; f < 30; f++)
      gt.frames[String(f)].forEach((b: { x: number; y: number }, i: number) => {
        const p = gt.frames[String(f - 1)][i];
        expect(Math.abs(b.x - p.x)).toBeLessThanOrEqual(5);
        expect(Math.abs(b.y - p.y)).toBeLessThanOrEqual(5);
      });
    // Deterministic.
    const again = await generateVideo({ path: join(dir, 'v2', 'clip.mp4'), seconds: 1, fps: 30, seed: 2 });
    expect(again.groundTruth.frames).toEqual(r.groundTruth.frames);
  }, 30_000);
});

describe('generateJpegCorpus', () => {
  it('writes 1920x1080 q90 JPEGs of 100-700 KB', async () => {
    const r = await generateJpegCorpus({ dir: join(dir, 'corpus'), count: 3, seed: 1 });
    expect(r.files).toHaveLength(3);
    for (const [i, f] of r.files.entries()) {
      const meta = await sharp(join(dir, 'corpus', f)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1920, 1080]);
      expect(r.bytes[i]).toBeGreaterThan(100 * 1024);
      expect(r.bytes[i]).toBeLessThan(700 * 1024);
    }
  }, 30_000);
});
