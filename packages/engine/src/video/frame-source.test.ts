import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateVideo } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planGeometry } from '../preprocess.ts';
import { FfmpegFrameSource, keepsFrame, VideoDecodeError } from './frame-source.ts';

describe('FfmpegFrameSource', () => {
  let dir: string;
  let clip: string;
  const src = new FfmpegFrameSource();
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vb-video-'));
    clip = path.join(dir, 'clip.mp4');
    await generateVideo({ path: clip, seconds: 2, fps: 30, width: 320, height: 180, seed: 3 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('selects frames deterministically under maxFps', () => {
    const fps30 = { num: 30, den: 1 };
    const kept = Array.from({ length: 31 }, (_, n) => n).filter((n) => keepsFrame(n, fps30, 5));
    expect(kept).toEqual([0, 6, 12, 18, 24, 30]);
    expect(Array.from({ length: 10 }, (_, n) => n).filter((n) => keepsFrame(n, fps30, 30))).toHaveLength(10);
    expect(Array.from({ length: 10 }, (_, n) => n).filter((n) => keepsFrame(n, fps30, null))).toHaveLength(
      10,
    );
    const ntsc = { num: 30000, den: 1001 };
    const k = Array.from({ length: 300 }, (_, n) => n).filter((n) => keepsFrame(n, ntsc, 10));
    expect(k.length).toBeGreaterThanOrEqual(99);
    expect(k.length).toBeLessThanOrEqual(101);
  });

  it('probes the clip', async () => {
    const info = await src.probe(clip);
    expect(info).toMatchObject({ width: 320, height: 180, fps: { num: 30, den: 1 }, codec: 'h264' });
    expect(info.frameCount).toBe(60);
  });

  it('yields frames 0, 6, 12, … with timestamps at maxFps 5, letterboxed by ffmpeg', async () => {
    const info = await src.probe(clip);
    const g = planGeometry(info.width, info.height, {
      width: 640,
      height: 640,
      mode: 'letterbox',
      paddingValue: 114,
    });
    const frames = [];
    for await (const f of src.frames(clip, info, {
      maxFps: 5,
      layout: {
        width: 640,
        height: 640,
        resizeWidth: g.resizeWidth,
        resizeHeight: g.resizeHeight,
        offsetX: g.offsetX,
        offsetY: g.offsetY,
        padValue: 114,
      },
    })) {
      frames.push({
        index: f.index,
        t: f.timestampSec,
        w: f.width,
        h: f.height,
        px0: f.rgb[0],
        bytes: f.rgb.length,
      });
    }
    expect(frames.map((f) => f.index)).toEqual([0, 6, 12, 18, 24, 30, 36, 42, 48, 54]);
    expect(frames[1].t).toBeCloseTo(0.2, 6);
    expect(frames.every((f) => f.w === 640 && f.h === 640 && f.bytes === 640 * 640 * 3)).toBe(true);
    expect(frames[0].px0).toBe(114); // top-left is padding
  });

  it('segments cover every sampled frame exactly once, with the right pixels', async () => {
    const info = await src.probe(clip);
    // frames are compared by content too: an off-by-one seek would shift pixels, not indices
    const key = (f: { index: number; rgb: Buffer }) =>
      `${f.index}:${createHash('sha1').update(f.rgb).digest('hex')}`;
    const collect = async (maxFps: number | null, ranges: Array<{ start: number; end: number } | null>) => {
      const out: string[] = [];
      for (const range of ranges)
        for await (const f of src.frames(clip, info, { maxFps, layout: null, range })) out.push(key(f));
      return out;
    };
    const whole10 = await collect(10, [null]);
    expect(whole10).toHaveLength(20);
    const split10 = await collect(10, [
      { start: 0, end: 25 },
      { start: 25, end: 40 },
      { start: 40, end: 60 },
    ]);
    expect(split10).toEqual(whole10);
    expect(new Set(split10).size).toBe(split10.length);
    // every frame, with edges that do not fall on sampled frames
    const whole = await collect(null, [null]);
    expect(whole).toHaveLength(60);
    expect(
      await collect(null, [
        { start: 0, end: 7 },
        { start: 7, end: 31 },
        { start: 31, end: Number.MAX_SAFE_INTEGER },
      ]),
    ).toEqual(whole);
  });

  it('a video with a broken tail yields the frames that decode, then a truncation error', async () => {
    const bytes = fs.readFileSync(clip);
    const broken = path.join(dir, 'broken.mp4');
    // Keep the header and most of the data; garble the last third.
    const cut = Buffer.from(bytes);
    cut.fill(0x5a, Math.floor(bytes.length * 0.66));
    fs.writeFileSync(broken, cut);
    const info = await src.probe(broken);
    const got: number[] = [];
    let error: unknown = null;
    try {
      for await (const f of src.frames(broken, info, { maxFps: null, layout: null })) got.push(f.index);
    } catch (err) {
      error = err;
    }
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThanOrEqual(60);
    expect(error).toBeInstanceOf(VideoDecodeError);
  });

  it('a consumer that blocks its thread between frames still gets every frame, in order', async () => {
    // frames are read from ffmpeg by another thread, so a blocked consumer (inference) loses none
    const info = await src.probe(clip);
    const got: number[] = [];
    for await (const f of src.frames(clip, info, { maxFps: null, layout: null })) {
      got.push(f.index);
      expect(f.rgb.length).toBe(320 * 180 * 3);
      const until = performance.now() + 5;
      while (performance.now() < until); // busy, as onnxruntime's run() is
    }
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => i));
  });

  it('stopping early ends the decoder', async () => {
    const info = await src.probe(clip);
    const got: number[] = [];
    for await (const f of src.frames(clip, info, { maxFps: null, layout: null })) {
      got.push(f.index);
      if (got.length === 2) break;
    }
    expect(got).toEqual([0, 1]);
    // the generator's return waited for the reader thread, which waited for ffmpeg
    const left = fs.readdirSync('/proc').filter((pid) => {
      if (!/^\d+$/.test(pid)) return false;
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmd.startsWith('ffmpeg') && cmd.includes(clip);
      } catch {
        return false;
      }
    });
    expect(left).toEqual([]);
  });

  it('an unreadable file is refused at probe', async () => {
    const junk = path.join(dir, 'junk.mp4');
    fs.writeFileSync(junk, Buffer.alloc(1000, 1));
    await expect(src.probe(junk)).rejects.toBeInstanceOf(VideoDecodeError);
  });
});
