/** Helpers shared by this package's tests (letterbox with sharp, tensors, YOLOv8 decoding). */
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { CLASS_NAMES } from './shapes.ts';

export interface LetterboxedTensor {
  data: Float32Array;
  scale: number;
  padLeft: number;
  padTop: number;
}

/** HWC u8 RGB -> CHW float32 of pixel / 255. */
export function toChw(
  raw: Uint8Array,
  width: number,
  height: number,
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const plane = width * height;
  const data = out ?? new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    data[offset + i] = raw[i * 3] / 255;
    data[offset + plane + i] = raw[i * 3 + 1] / 255;
    data[offset + 2 * plane + i] = raw[i * 3 + 2] / 255;
  }
  return data;
}

/** Ultralytics/Roboflow letterbox to size x size with sharp (bilinear), padding 114. */
export async function letterboxImage(
  input: Buffer | { raw: Uint8Array; width: number; height: number },
  size = 640,
) {
  const img = Buffer.isBuffer(input)
    ? sharp(input)
    : sharp(input.raw, { raw: { width: input.width, height: input.height, channels: 3 } });
  const meta = Buffer.isBuffer(input) ? await img.metadata() : { width: input.width, height: input.height };
  const w = meta.width!;
  const h = meta.height!;
  const scale = Math.min(size / w, size / h);
  const nw = Math.floor(w * scale);
  const nh = Math.floor(h * scale);
  const padLeft = Math.floor((size - nw) / 2);
  const padTop = Math.floor((size - nh) / 2);
  let pipeline = img.removeAlpha();
  if (nw !== w || nh !== h) pipeline = pipeline.resize(nw, nh, { kernel: 'linear', fit: 'fill' });
  const raw = await pipeline
    .extend({
      left: padLeft,
      right: size - nw - padLeft,
      top: padTop,
      bottom: size - nh - padTop,
      background: { r: 114, g: 114, b: 114 },
    })
    .raw()
    .toBuffer();
  return { data: toChw(raw, size, size), scale, padLeft, padTop, width: w, height: h };
}

export interface Detection {
  class: string;
  score: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

function iou(a: number[], b: number[]): number {
  const ix = Math.max(
    0,
    Math.min(a[0] + a[2] / 2, b[0] + b[2] / 2) - Math.max(a[0] - a[2] / 2, b[0] - b[2] / 2),
  );
  const iy = Math.max(
    0,
    Math.min(a[1] + a[3] / 2, b[1] + b[3] / 2) - Math.max(a[1] - a[3] / 2, b[1] - b[3] / 2),
  );
  const inter = ix * iy;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

/**
 * Decodes one image of a YOLOv8 output [N, 4 + C, A]: score = max class, keep > conf, greedy
 * class-wise NMS, map back (subtract pads, divide by scale), clamp to the image and round.
 */
export function decodeYolo(
  out: ort.Tensor,
  index: number,
  geo: { scale: number; padLeft: number; padTop: number; width: number; height: number },
  opts: { conf?: number; iou?: number; classNames?: readonly string[] } = {},
): Detection[] {
  const conf = opts.conf ?? 0.4;
  const iouThr = opts.iou ?? 0.3;
  const names = opts.classNames ?? CLASS_NAMES;
  const [, rows, A] = out.dims as number[];
  const C = rows - 4;
  const d = (out.data as Float32Array).subarray(index * rows * A, (index + 1) * rows * A);
  const cands: { c: number; s: number; b: number[] }[] = [];
  for (let a = 0; a < A; a++) {
    let best = -1;
    let bc = 0;
    for (let c = 0; c < C; c++) {
      const v = d[(4 + c) * A + a];
      if (v > best) {
        best = v;
        bc = c;
      }
    }
    if (best > conf) cands.push({ c: bc, s: best, b: [d[a], d[A + a], d[2 * A + a], d[3 * A + a]] });
  }
  cands.sort((p, q) => q.s - p.s);
  const kept: typeof cands = [];
  for (const cand of cands)
    if (!kept.some((k) => k.c === cand.c && iou(k.b, cand.b) > iouThr)) kept.push(cand);
  return kept.map((k) => {
    const clampX = (v: number) => Math.min(geo.width, Math.max(0, v));
    const clampY = (v: number) => Math.min(geo.height, Math.max(0, v));
    const x1 = clampX((k.b[0] - k.b[2] / 2 - geo.padLeft) / geo.scale);
    const x2 = clampX((k.b[0] + k.b[2] / 2 - geo.padLeft) / geo.scale);
    const y1 = clampY((k.b[1] - k.b[3] / 2 - geo.padTop) / geo.scale);
    const y2 = clampY((k.b[1] + k.b[3] / 2 - geo.padTop) / geo.scale);
    return {
      class: names[k.c],
      score: k.s,
      x: Math.round((x1 + x2) / 2),
      y: Math.round((y1 + y2) / 2),
      width: Math.round(x2 - x1),
      height: Math.round(y2 - y1),
    };
  });
}

export interface GtLike {
  class: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Greedy matching by class and max coordinate error; returns matches and unmatched on both sides. */
export function matchDetections(dets: readonly Detection[], gts: readonly GtLike[], maxErr = 2) {
  const used = new Set<number>();
  const errors: number[] = [];
  const missed: GtLike[] = [];
  for (const g of gts) {
    let bi = -1;
    let be = Number.POSITIVE_INFINITY;
    dets.forEach((d, i) => {
      if (used.has(i) || d.class !== g.class) return;
      const e = Math.max(
        Math.abs(d.x - g.x),
        Math.abs(d.y - g.y),
        Math.abs(d.width - g.width),
        Math.abs(d.height - g.height),
      );
      if (e < be) {
        be = e;
        bi = i;
      }
    });
    if (bi >= 0 && be <= maxErr) {
      used.add(bi);
      errors.push(be);
    } else missed.push(g);
  }
  return { errors, missed, falsePositives: dets.filter((_, i) => !used.has(i)) };
}

export function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}
