import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { DecodedImage, decodeImage } from './image-decode.ts';
import { planGeometry, preprocess, writeChw } from './preprocess.ts';

const spec = (
  mode: 'letterbox' | 'stretch' | 'center-crop' | 'shortest-edge-center-crop',
  w = 640,
  h = 640,
  pad = 114,
) => ({
  width: w,
  height: h,
  mode,
  paddingValue: pad,
});

describe('planGeometry (spec §4.3, hand-computed)', () => {
  it('letterbox 1920x1080 → 640²: scale 1/3, 640x360, 140 px on top', () => {
    expect(planGeometry(1920, 1080, spec('letterbox'))).toMatchObject({
      resizeWidth: 640,
      resizeHeight: 360,
      offsetX: 0,
      offsetY: 140,
      scaleX: 1 / 3,
      scaleY: 1 / 3,
    });
  });

  it('letterbox floors sizes and half-pads (remainder right/bottom)', () => {
    // 333x500: scale = min(640/333, 640/500) = 1.28; new_w = floor(426.24) = 426; pad_left = floor(214/2) = 107
    expect(planGeometry(333, 500, spec('letterbox'))).toMatchObject({
      resizeWidth: 426,
      resizeHeight: 640,
      offsetX: 107,
      offsetY: 0,
      scaleX: 1.28,
    });
    // 1001x500 → scale 640/1001; new_h = floor(319.68) = 319; pad_top = floor(321/2) = 160
    expect(planGeometry(1001, 500, spec('letterbox'))).toMatchObject({
      resizeWidth: 640,
      resizeHeight: 319,
      offsetY: 160,
    });
  });

  it('stretch uses independent scales', () => {
    expect(planGeometry(1280, 720, spec('stretch'))).toMatchObject({
      resizeWidth: 640,
      resizeHeight: 640,
      offsetX: 0,
      offsetY: 0,
      scaleX: 0.5,
      scaleY: 640 / 720,
    });
  });

  it('center-crop takes the central window without scaling', () => {
    expect(planGeometry(1000, 500, spec('center-crop'))).toMatchObject({
      resizeWidth: 1000,
      resizeHeight: 500,
      offsetX: -180,
      offsetY: 70,
      scaleX: 1,
    });
    expect(planGeometry(641, 640, spec('center-crop')).offsetX).toBe(0);
  });

  it('shortest-edge-center-crop resizes the shorter side, crops the centre', () => {
    // 300x200 → 224: s = 1.12; 336x224, crop left = round(112/2) = 56
    expect(planGeometry(300, 200, spec('shortest-edge-center-crop', 224, 224))).toMatchObject({
      resizeWidth: 336,
      resizeHeight: 224,
      offsetX: -56,
      offsetY: 0,
    });
    // torchvision's int(224 * 45 / 5) = 2016 (45 × (224 / 5) in floats is 2015.99…)
    expect(planGeometry(5, 45, spec('shortest-edge-center-crop', 224, 224))).toMatchObject({
      resizeWidth: 224,
      resizeHeight: 2016,
      offsetY: -896,
    });
    // 225x224 → 224: long side 225 → crop (225-224)/2 = 0.5 → rounds half to even → 0
    expect(planGeometry(225, 224, spec('shortest-edge-center-crop', 224, 224))).toMatchObject({
      resizeWidth: 225,
      offsetX: 0,
    });
  });
});

describe('writeChw', () => {
  it('writes CHW /255 at an offset and pads the rest', () => {
    const src = Uint8Array.from([255, 0, 51, 0, 255, 102]); // 2x1: (255,0,51), (0,255,102)
    const dst = new Float32Array(3 * 4 * 2);
    writeChw(dst, 0, 4, 2, src, 2, 1, 1, 1, 114);
    const pad = Math.fround(114 / 255);
    const plane = (c: number) => [...dst.subarray(c * 8, c * 8 + 8)];
    expect(plane(0)).toEqual([pad, pad, pad, pad, pad, 1, 0, pad]);
    expect(plane(2)).toEqual([pad, pad, pad, pad, pad, Math.fround(0.2), Math.fround(0.4), pad]);
  });

  it('overwrites every element of a reused (dirty) buffer: pixels where the image is, padding elsewhere', () => {
    const src = Uint8Array.from([255, 0, 51, 0, 255, 102]); // 2x1
    const pad = Math.fround(114 / 255);
    for (const [ox, oy] of [
      [1, 1],
      [0, 0],
      [2, 0],
      [0, 1],
      [5, 5], // entirely outside: all padding
    ]) {
      const dst = new Float32Array(3 * 4 * 2).fill(7);
      writeChw(dst, 0, 4, 2, src, 2, 1, ox, oy, 114);
      const expected = new Float32Array(3 * 4 * 2).fill(pad);
      if (ox + 2 <= 4 && oy < 2) {
        for (let x = 0; x < 2; x++)
          for (let c = 0; c < 3; c++) expected[c * 8 + oy * 4 + ox + x] = Math.fround(src[x * 3 + c] / 255);
      }
      expect([...dst], `offset ${ox},${oy}`).toEqual([...expected]);
    }
  });

  it('crops with negative offsets', () => {
    const src = Uint8Array.from([0, 0, 0, 255, 255, 255, 0, 0, 0]); // 3x1
    const dst = new Float32Array(3);
    writeChw(dst, 0, 1, 1, src, 3, 1, -1, 0, 0);
    expect([...dst]).toEqual([1, 1, 1]);
  });
});

describe('preprocess', () => {
  it('letterboxes a JPEG with the record padding', async () => {
    const jpg = await sharp({
      create: { width: 1920, height: 1080, channels: 3, background: { r: 255, g: 0, b: 0 } },
    })
      .jpeg()
      .toBuffer();
    const img = await decodeImage(jpg);
    const { tensor, geometry } = await preprocess(img, spec('letterbox'));
    // the full-size pixels it decoded are not kept (6 MB here; a crop would decode them again)
    expect(img.hasPixels).toBe(false);
    expect(tensor.length).toBe(3 * 640 * 640);
    expect(geometry.offsetY).toBe(140);
    const at = (c: number, y: number, x: number) => tensor[c * 640 * 640 + y * 640 + x];
    expect(at(0, 0, 0)).toBeCloseTo(114 / 255, 6); // pad row
    expect(at(0, 139, 320)).toBeCloseTo(114 / 255, 6);
    expect(at(0, 320, 320)).toBeGreaterThan(0.95); // red content
    expect(at(1, 320, 320)).toBeLessThan(0.05);
    expect(at(0, 499, 320)).toBeGreaterThan(0.95); // 360 content rows: 140..499
    expect(at(0, 500, 320)).toBeCloseTo(114 / 255, 6);
    expect(at(0, 639, 0)).toBeCloseTo(114 / 255, 6);
  });

  it('memoises per spec and works from pixels', async () => {
    const px = Buffer.alloc(8 * 4 * 3, 255);
    const img = DecodedImage.fromPixels({ data: px, width: 8, height: 4 });
    const a = preprocess(img, spec('stretch', 4, 4));
    expect(preprocess(img, spec('stretch', 4, 4))).toBe(a);
    const { tensor } = await a;
    expect([...tensor].every((v) => v === 1)).toBe(true);
    expect(img.hasPixels).toBe(true);
  });

  it('keeps pixels that were decoded before it, and decodes them again when asked after it', async () => {
    const jpg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#0000ff' } })
      .jpeg()
      .toBuffer();
    const full = await decodeImage(jpg, { full: true });
    await preprocess(full, spec('letterbox', 32, 32));
    expect(full.hasPixels).toBe(true);
    const lazy = await decodeImage(jpg);
    await preprocess(lazy, spec('letterbox', 32, 32));
    expect(lazy.hasPixels).toBe(false);
    expect((await lazy.rgb()).data.equals((await full.rgb()).data)).toBe(true);
  });

  it('decodes a 1080p JPEG into a 640 letterbox fast', async () => {
    const raw = Buffer.alloc(1920 * 1080 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 31) & 255;
    const jpg = await sharp(raw, { raw: { width: 1920, height: 1080, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    await preprocess(await decodeImage(jpg), spec('letterbox')); // warm libvips up
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) await preprocess(await decodeImage(jpg), spec('letterbox'));
    const ms = (performance.now() - t0) / 5;
    // research/limits.md measured ~14 ms; generous bound for shared CI machines
    expect(ms).toBeLessThan(120);
  });
});
