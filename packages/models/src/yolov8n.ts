/**
 * `yolov8n-arch`: the YOLOv8n network (Conv+BN folded, SiLU, C2f, SPPF, FPN/PAN, decoupled
 * Detect head with DFL) with seeded random weights. Same tensor contract and about the same cost
 * as the real model (8.7 GFLOPs at 640); the detections are meaningless.
 *
 * Weights are He-normal draws from a seeded PRNG, then each convolution is rescaled so that its
 * output on a small deterministic calibration image (160x160, run in plain JS while the graph is
 * built) has unit standard deviation — what a folded BatchNorm would do. Without this, a random
 * 60-layer network with residuals either explodes or vanishes.
 *
 * Graph form, chosen so that onnxruntime (graphOptimizationLevel 'all') keeps every conv in its
 * blocked NCHWc layout: SiLU is x * Sigmoid(x) (fused to one QuickGelu), C2f's cv1 is two Conv
 * nodes rather than Conv + Split, and DFL is Softmax over the last axis + MatMul(arange 16). Each
 * of these gives the same numbers as the textbook form (a Split forces a reorder out of and back
 * into NCHWc around every C2f; a Softmax over a non-last axis costs an internal transpose).
 */
import { GraphBuilder, type ModelOptions } from './graph.ts';
import { Rng } from './prng.ts';

/** A tensor: ONNX value name, full-resolution shape, and its calibration activations [c, ch, cw]. */
interface T {
  name: string;
  c: number;
  h: number;
  w: number;
  cal: Float32Array;
  ch: number;
  cw: number;
}

export interface Yolov8nOptions {
  seed?: number;
  /** Input side (default 640, must be a multiple of 32). */
  imgsz?: number;
  numClasses?: number;
}

export interface Yolov8nBuild {
  graph: GraphBuilder;
  /** Multiply-accumulates of all convolutions for one image. */
  macs: number;
  /** Ultralytics-style GFLOPs (2 * MACs / 1e9). */
  gflops: number;
  params: number;
  anchors: number;
  /** Per-conv (name, calibration output std before SiLU) — for diagnostics. */
  convs: { name: string; macs: number }[];
}

const REG_MAX = 16;
/** Side of the calibration image (multiple of 32). */
const CAL_SIZE = 160;
/**
 * Target std of hidden pre-activations on the calibration image. A large value keeps SiLU in its
 * ReLU-like (nearly positively homogeneous) regime, so activations scale with input contrast
 * instead of compounding layer after layer (std 1 made contrasty images grow ~30x by P5).
 */
const HIDDEN_STD = 6;
/** Target std of the box-branch logits (spreads the DFL bins). */
const BOX_LOGIT_STD = 1.5;
/**
 * Class logits: std 0.5 (on the calibration image) around -4.5, so plain images give no
 * (anchor, class) pair above 0.25 and busy 1080p JPEGs a few dozen to ~150 — like a trained model.
 */
const CLS_LOGIT_STD = 0.5;
const CLS_BIAS = -4.5;

// ---------- plain-JS reference ops on [c, h, w] Float32Arrays (calibration only) ----------

function convJs(
  x: Float32Array,
  cin: number,
  h: number,
  w: number,
  weight: Float32Array,
  cout: number,
  k: number,
  s: number,
): { out: Float32Array; oh: number; ow: number } {
  const pad = k >> 1;
  const oh = Math.floor((h + 2 * pad - k) / s) + 1;
  const ow = Math.floor((w + 2 * pad - k) / s) + 1;
  const out = new Float32Array(cout * oh * ow);
  for (let co = 0; co < cout; co++) {
    const ob = co * oh * ow;
    for (let ci = 0; ci < cin; ci++) {
      const ib = ci * h * w;
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const wv = weight[((co * cin + ci) * k + ky) * k + kx];
          const ox0 = Math.max(0, Math.ceil((pad - kx) / s));
          const ox1 = Math.min(ow - 1, Math.floor((w - 1 + pad - kx) / s));
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * s + ky - pad;
            if (iy < 0 || iy >= h) continue;
            const ir = ib + iy * w - pad + kx;
            const or = ob + oy * ow;
            for (let ox = ox0; ox <= ox1; ox++) out[or + ox] += wv * x[ir + ox * s];
          }
        }
      }
    }
  }
  return { out, oh, ow };
}

function siluJs(x: Float32Array): Float32Array {
  return x.map((v) => v / (1 + Math.exp(-v)));
}

function maxPoolJs(x: Float32Array, c: number, h: number, w: number, k: number): Float32Array {
  const p = k >> 1;
  const out = new Float32Array(x.length);
  for (let ci = 0; ci < c; ci++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        let m = -Infinity;
        for (let yy = Math.max(0, y - p); yy <= Math.min(h - 1, y + p); yy++)
          for (let x2 = Math.max(0, xx - p); x2 <= Math.min(w - 1, xx + p); x2++)
            m = Math.max(m, x[(ci * h + yy) * w + x2]);
        out[(ci * h + y) * w + xx] = m;
      }
  return out;
}

function upsampleJs(x: Float32Array, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(c * h * w * 4);
  for (let ci = 0; ci < c; ci++)
    for (let y = 0; y < 2 * h; y++)
      for (let xx = 0; xx < 2 * w; xx++)
        out[(ci * 2 * h + y) * 2 * w + xx] = x[(ci * h + (y >> 1)) * w + (xx >> 1)];
  return out;
}

function std(x: Float32Array): number {
  let s1 = 0;
  let s2 = 0;
  for (const v of x) {
    s1 += v;
    s2 += v * v;
  }
  const m = s1 / x.length;
  return Math.sqrt(Math.max(s2 / x.length - m * m, 1e-12));
}

/** Deterministic calibration image: gradient background, a few flat rectangles, mild noise. */
function calibrationImage(size: number): Float32Array {
  const rng = new Rng(12345);
  const img = new Float32Array(3 * size * size);
  const c0 = [rng.next(), rng.next(), rng.next()];
  const c1 = [rng.next(), rng.next(), rng.next()];
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        img[(c * size + y) * size + x] = c0[c] + ((c1[c] - c0[c]) * (x + y)) / (2 * size);
  for (let r = 0; r < 8; r++) {
    const s = rng.int(size >> 4, size >> 2);
    const x0 = rng.int(0, size - s);
    const y0 = rng.int(0, size - s);
    const col = [rng.next(), rng.next(), rng.next()];
    for (let c = 0; c < 3; c++)
      for (let y = y0; y < y0 + s; y++)
        for (let x = x0; x < x0 + s; x++) img[(c * size + y) * size + x] = col[c];
  }
  for (let i = 0; i < img.length; i++) img[i] = Math.min(1, Math.max(0, img[i] + (rng.next() - 0.5) * 0.1));
  return img;
}

// ---------- builder ----------

class Yolov8nBuilder {
  readonly g = new GraphBuilder('yolov8n_arch');
  macs = 0;
  params = 0;
  readonly convs: { name: string; macs: number }[] = [];
  private readonly rng: Rng;

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /**
   * Conv2d with bias (BN folded): He-normal weights rescaled so that the calibration output has
   * std `outStd`; bias is `biasFill` or small random values. With `split`, the output channels
   * are emitted as one Conv node per group (same weights, same maths as Conv + Split, but ORT
   * keeps its blocked NCHWc layout across it instead of reordering around a Split).
   */
  private conv2dParts(
    x: T,
    c2: number,
    k: number,
    s: number,
    name: string,
    outStd: number,
    biasFill: number | undefined,
    split: readonly number[],
  ): T[] {
    const fanIn = x.c * k * k;
    const he = Math.sqrt(2 / fanIn);
    const weight = new Float32Array(c2 * fanIn);
    for (let i = 0; i < weight.length; i++) weight[i] = this.rng.normal() * he;
    const bias = new Float32Array(c2);
    for (let i = 0; i < c2; i++) bias[i] = biasFill ?? this.rng.normal() * 0.1;
    const { out, oh, ow } = convJs(x.cal, x.c, x.ch, x.cw, weight, c2, k, s);
    const scale = outStd / std(out);
    for (let i = 0; i < weight.length; i++) weight[i] *= scale;
    const plane = oh * ow;
    for (let i = 0; i < out.length; i++) out[i] = out[i] * scale + bias[Math.floor(i / plane)];

    const pad = k >> 1;
    const h = Math.floor((x.h + 2 * pad - k) / s) + 1;
    const w = Math.floor((x.w + 2 * pad - k) / s) + 1;
    const macs = c2 * fanIn * h * w;
    this.macs += macs;
    this.convs.push({ name, macs });
    this.params += weight.length + bias.length;
    const parts: T[] = [];
    let c0 = 0;
    split.forEach((c, i) => {
      const y = this.g.conv(x.name, {
        weight: weight.slice(c0 * fanIn, (c0 + c) * fanIn),
        bias: bias.slice(c0, c0 + c),
        inChannels: x.c,
        outChannels: c,
        kernel: k,
        stride: s,
        pad,
        name: split.length > 1 ? `${name}.${i}` : name,
      });
      parts.push({ name: y, c, h, w, cal: out.slice(c0 * plane, (c0 + c) * plane), ch: oh, cw: ow });
      c0 += c;
    });
    return parts;
  }

  conv2d(x: T, c2: number, k: number, s: number, name: string, outStd = HIDDEN_STD, biasFill?: number): T {
    return this.conv2dParts(x, c2, k, s, name, outStd, biasFill, [c2])[0];
  }

  /** Ultralytics Conv: Conv2d + BN (folded) + SiLU as x * Sigmoid(x). */
  conv(x: T, c2: number, k: number, s: number, name: string): T {
    const y = this.conv2d(x, c2, k, s, name);
    return { ...y, name: this.g.silu(y.name), cal: siluJs(y.cal) };
  }

  bottleneck(x: T, shortcut: boolean, name: string): T {
    const y = this.conv(this.conv(x, x.c, 3, 1, `${name}.cv1`), x.c, 3, 1, `${name}.cv2`);
    if (!shortcut) return y;
    return { ...y, name: this.g.add(x.name, y.name), cal: x.cal.map((v, i) => v + y.cal[i]) };
  }

  /** C2f; cv1's two output halves are two Conv nodes (see conv2dParts) instead of Conv + Split. */
  c2f(x: T, c2: number, n: number, shortcut: boolean, name: string): T {
    const c = c2 / 2;
    const parts = this.conv2dParts(x, 2 * c, 1, 1, `${name}.cv1`, HIDDEN_STD, undefined, [c, c]).map(
      (y): T => ({ ...y, name: this.g.silu(y.name), cal: siluJs(y.cal) }),
    );
    for (let i = 0; i < n; i++)
      parts.push(this.bottleneck(parts[parts.length - 1], shortcut, `${name}.m.${i}`));
    return this.conv(this.concat(parts), c2, 1, 1, `${name}.cv2`);
  }

  sppf(x: T, c2: number, k: number, name: string): T {
    const parts = [this.conv(x, x.c / 2, 1, 1, `${name}.cv1`)];
    const p = k >> 1;
    for (let i = 0; i < 3; i++) {
      const prev = parts[parts.length - 1];
      parts.push({
        ...prev,
        name: this.g.maxPool(prev.name, { kernel: [k, k], strides: [1, 1], pads: [p, p, p, p] }),
        cal: maxPoolJs(prev.cal, prev.c, prev.ch, prev.cw, k),
      });
    }
    return this.conv(this.concat(parts), c2, 1, 1, `${name}.cv2`);
  }

  concat(xs: T[]): T {
    const cal = new Float32Array(xs.reduce((n, t) => n + t.cal.length, 0));
    let off = 0;
    for (const t of xs) {
      cal.set(t.cal, off);
      off += t.cal.length;
    }
    const names = xs.map((t) => t.name);
    return { ...xs[0], name: this.g.concat(names, 1), c: xs.reduce((n, t) => n + t.c, 0), cal };
  }

  upsample(x: T): T {
    const scales = this.g.constF([1, 1, 2, 2], [4], 'up_scales');
    const name = this.g.op('Resize', [x.name, '', scales], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
    return {
      name,
      c: x.c,
      h: x.h * 2,
      w: x.w * 2,
      cal: upsampleJs(x.cal, x.c, x.ch, x.cw),
      ch: x.ch * 2,
      cw: x.cw * 2,
    };
  }
}

export function buildYolov8nArchGraph(opts: Yolov8nOptions = {}): Yolov8nBuild {
  const imgsz = opts.imgsz ?? 640;
  if (imgsz % 32 !== 0) throw new Error('imgsz must be a multiple of 32');
  const nc = opts.numClasses ?? 80;
  const b = new Yolov8nBuilder(opts.seed ?? 0);
  const g = b.g;
  const images: T = {
    name: g.input('images', ['N', 3, imgsz, imgsz]),
    c: 3,
    h: imgsz,
    w: imgsz,
    cal: calibrationImage(CAL_SIZE),
    ch: CAL_SIZE,
    cw: CAL_SIZE,
  };

  // Backbone (widths 16/32/64/128/256, C2f repeats 1/2/2/1), SPPF k=5.
  const x0 = b.conv(images, 16, 3, 2, 'model.0');
  const x1 = b.conv(x0, 32, 3, 2, 'model.1');
  const x2 = b.c2f(x1, 32, 1, true, 'model.2');
  const x3 = b.conv(x2, 64, 3, 2, 'model.3');
  const p3 = b.c2f(x3, 64, 2, true, 'model.4');
  const x5 = b.conv(p3, 128, 3, 2, 'model.5');
  const p4 = b.c2f(x5, 128, 2, true, 'model.6');
  const x7 = b.conv(p4, 256, 3, 2, 'model.7');
  const x8 = b.c2f(x7, 256, 1, true, 'model.8');
  const p5 = b.sppf(x8, 256, 5, 'model.9');
  // Neck: FPN (top-down, nearest Resize + Concat) then PAN (bottom-up).
  const h12 = b.c2f(b.concat([b.upsample(p5), p4]), 128, 1, false, 'model.12');
  const h15 = b.c2f(b.concat([b.upsample(h12), p3]), 64, 1, false, 'model.15');
  const h18 = b.c2f(b.concat([b.conv(h15, 64, 3, 2, 'model.16'), h12]), 128, 1, false, 'model.18');
  const h21 = b.c2f(b.concat([b.conv(h18, 128, 3, 2, 'model.19'), p5]), 256, 1, false, 'model.21');

  // Decoupled Detect head: box branch 64-64-64 (4 * reg_max), class branch 80-80-nc.
  const feats = [h15, h18, h21];
  const strides = [8, 16, 32];
  const c2 = Math.max(16, feats[0].c / 4, REG_MAX * 4);
  const c3 = Math.max(feats[0].c, Math.min(nc, 100));
  const boxParts: string[] = [];
  const clsParts: string[] = [];
  feats.forEach((f, i) => {
    let bx = b.conv(f, c2, 3, 1, `model.22.cv2.${i}.0`);
    bx = b.conv(bx, c2, 3, 1, `model.22.cv2.${i}.1`);
    bx = b.conv2d(bx, 4 * REG_MAX, 1, 1, `model.22.cv2.${i}.2`, BOX_LOGIT_STD, 1.0);
    let cl = b.conv(f, c3, 3, 1, `model.22.cv3.${i}.0`);
    cl = b.conv(cl, c3, 3, 1, `model.22.cv3.${i}.1`);
    cl = b.conv2d(cl, nc, 1, 1, `model.22.cv3.${i}.2`, CLS_LOGIT_STD, CLS_BIAS);
    boxParts.push(g.reshape(bx.name, [0, 4 * REG_MAX, -1]));
    clsParts.push(g.reshape(cl.name, [0, nc, -1]));
  });
  const A = strides.reduce((a, s) => a + (imgsz / s) ** 2, 0);
  const box = g.concat(boxParts, 2); // [N, 64, A]
  const cls = g.concat(clsParts, 2); // [N, nc, A]

  // DFL: softmax over the 16 bins (last axis, so ORT needs no internal transpose), then the
  // expectation as a MatMul with arange(16) — the maths of Ultralytics' fixed 1x1 conv.
  const bins = g.transpose(g.reshape(box, [0, 4, REG_MAX, A]), [0, 1, 3, 2]); // [N, 4, A, 16]
  const arange = g.constF(
    Float32Array.from({ length: REG_MAX }, (_, i) => i),
    [REG_MAX, 1],
    'model.22.dfl.arange',
  );
  const dfl = g.op('MatMul', [g.softmax(bins, -1), arange]); // [N, 4, A, 1]
  const [lt, rb] = g.split(g.reshape(dfl, [0, 4, A]), [2, 2], 1);

  // dist2bbox with anchor points (grid cell + 0.5) and per-anchor strides -> xywh in pixels.
  const anchorPts = new Float32Array(2 * A);
  const strideArr = new Float32Array(A);
  let k = 0;
  for (const s of strides) {
    const n = imgsz / s;
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) {
        anchorPts[k] = x + 0.5;
        anchorPts[A + k] = y + 0.5;
        strideArr[k] = s;
        k++;
      }
  }
  const anchors = g.constF(anchorPts, [1, 2, A], 'anchors');
  const strideT = g.constF(strideArr, [1, 1, A], 'strides');
  const x1y1 = g.sub(anchors, lt);
  const x2y2 = g.add(anchors, rb);
  const cxy = g.mul(g.add(x1y1, x2y2), g.constF([0.5], [], 'half'));
  const wh = g.sub(x2y2, x1y1);
  const dbox = g.mul(g.concat([cxy, wh], 1), strideT); // [N, 4, A]
  const out = g.concat([dbox, g.sigmoid(cls)], 1, 'output0');
  g.output(out, ['N', 4 + nc, A]);
  return { graph: g, macs: b.macs, gflops: (2 * b.macs) / 1e9, params: b.params, anchors: A, convs: b.convs };
}

export function buildYolov8nArch(
  seed = 0,
  opts: Omit<Yolov8nOptions, 'seed'> & ModelOptions = {},
): Uint8Array {
  const { imgsz, numClasses, ...modelOpts } = opts;
  const { graph, gflops } = buildYolov8nArchGraph({ seed, imgsz, numClasses });
  return graph.build({
    docString: `YOLOv8n architecture with random weights (seed ${seed}); ${gflops.toFixed(2)} GFLOPs at ${imgsz ?? 640}; not trained.`,
    ...modelOpts,
  });
}
