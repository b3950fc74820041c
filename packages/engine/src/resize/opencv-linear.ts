import { LRUCache } from 'lru-cache';
import { roundHalfEven } from '../numbers.ts';

/**
 * OpenCV's `cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)` of an 8-bit, 3-channel
 * image, bit for bit: what Ultralytics' letterbox and Roboflow's inference resize with. The
 * arithmetic is OpenCV's fixed-point bilinear (checked against OpenCV 4.6 on thousands of sizes,
 * see test/fixtures/preprocess/README.md):
 *
 * - per output column and row, `f = float32((d + 0.5) × src/dst − 0.5)`, `s = floor(f)`, weights
 *   `round_half_even(float32(1 − frac) × 2048)` and `round_half_even(frac × 2048)` (11 bits);
 *   columns left of the image or at its last column take the edge pixel with weight 2048;
 * - the horizontal pass keeps exact integer sums (pixel × weight, up to 255 × 2048) per row;
 * - the vertical pass combines two such rows `S0`, `S1` as
 *   `((w0 × (S0 >> 4)) >> 16) + ((w1 × (S1 >> 4)) >> 16) + 2 >> 2`, the rounding of OpenCV's
 *   vectorised code (its scalar remainder rounds the same way: every pixel position matches);
 *   rows above or below the image are clamped to the edge row, keeping their computed weights.
 *
 * An exact 2× downscale in both directions is OpenCV's area-average path (`(a+b+c+d+2) >> 2`),
 * which these formulas give too, so it needs no branch of its own.
 */

const WEIGHT_ONE = 2048;

/** Source positions and weights along one axis. */
interface Axis {
  /** first source index (for columns: its byte offset in a row, `index × 3`) */
  near: Int32Array;
  /** second source index (the same as `near` at the edges) */
  far: Int32Array;
  wNear: Int32Array;
  wFar: Int32Array;
}

function axis(src: number, dst: number, stride: number, clampWeights: boolean): Axis {
  const near = new Int32Array(dst);
  const far = new Int32Array(dst);
  const wNear = new Int32Array(dst);
  const wFar = new Int32Array(dst);
  // OpenCV derives the step from the ratio it was given: 1 / (dst / src), not src / dst
  const scale = 1 / (dst / src);
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampWeights) {
      // columns: outside the image the edge pixel counts fully
      if (s < 0) {
        s = 0;
        f = 0;
      }
      if (s >= src - 1) {
        s = src - 1;
        f = 0;
      }
    }
    near[d] = Math.min(Math.max(s, 0), src - 1) * stride;
    far[d] = Math.min(Math.max(s + 1, 0), src - 1) * stride;
    wNear[d] = roundHalfEven(Math.fround(1 - f) * WEIGHT_ONE);
    wFar[d] = roundHalfEven(f * WEIGHT_ONE);
  }
  return { near, far, wNear, wFar };
}

interface Plan {
  columns: Axis;
  rows: Axis;
}

/**
 * Tables per (source size, output size): a worker resizes the same few size pairs over and over
 * (a camera's frames, a dataset's photos).
 */
const plans = new LRUCache<string, Plan>({ max: 8 });

/** Two rows of the horizontal pass, reused across calls (a slot resizes one image at a time). */
let rowA = new Int32Array(0);
let rowB = new Int32Array(0);

/** The horizontal pass of source row `y` into `out` (exact integers, `dw × 3` of them). */
function horizontal(src: Uint8Array, rowStart: number, columns: Axis, dw: number, out: Int32Array): void {
  const { near, far, wNear, wFar } = columns;
  for (let x = 0, o = 0; x < dw; x++, o += 3) {
    const a = rowStart + near[x];
    const b = rowStart + far[x];
    const w0 = wNear[x];
    const w1 = wFar[x];
    out[o] = src[a] * w0 + src[b] * w1;
    out[o + 1] = src[a + 1] * w0 + src[b + 1] * w1;
    out[o + 2] = src[a + 2] * w0 + src[b + 2] * w1;
  }
}

/**
 * Resizes HWC RGB (or BGR: channels are independent) `src` of `sw × sh` to `dw × dh`, into `out`
 * when given (`dw × dh × 3` bytes), else a new buffer.
 */
export function resizeLinearOpenCv(
  src: Uint8Array,
  sw: number,
  sh: number,
  dw: number,
  dh: number,
  out: Uint8Array = new Uint8Array(dw * dh * 3),
): Uint8Array {
  if (src.length < sw * sh * 3) throw new Error(`source has ${src.length} bytes, expected ${sw}x${sh}x3`);
  if (out.length < dw * dh * 3) throw new Error(`output has ${out.length} bytes, expected ${dw}x${dh}x3`);
  const key = `${sw}x${sh}>${dw}x${dh}`;
  let plan = plans.get(key);
  if (!plan) {
    plan = { columns: axis(sw, dw, 3, true), rows: axis(sh, dh, 1, false) };
    plans.set(key, plan);
  }
  const { columns, rows } = plan;
  const n = dw * 3;
  if (rowA.length < n) {
    rowA = new Int32Array(n);
    rowB = new Int32Array(n);
  }
  let a = rowA;
  let b = rowB;
  let heldA = -1;
  let heldB = -1;
  const rowBytes = sw * 3;
  for (let y = 0; y < dh; y++) {
    const r0 = rows.near[y];
    const r1 = rows.far[y];
    // upscaling reuses rows: keep the two last ones
    if (heldA !== r0) {
      if (heldB === r0) {
        [a, b] = [b, a];
        [heldA, heldB] = [heldB, heldA];
      } else {
        horizontal(src, r0 * rowBytes, columns, dw, a);
        heldA = r0;
      }
    }
    // A zero weight makes its term 0 whatever the row holds (an integer downscale, e.g. 1080 →
    // 360 rows, lands every output row on a source row): skip that row's horizontal pass.
    let s1 = a;
    if (r1 !== r0 && rows.wFar[y] !== 0) {
      if (heldB !== r1) {
        horizontal(src, r1 * rowBytes, columns, dw, b);
        heldB = r1;
      }
      s1 = b;
    }
    const w0 = rows.wNear[y];
    const w1 = rows.wFar[y];
    // every term is ≤ 1020 (32640 × 2048 >> 16), so the byte never overflows
    for (let i = 0, o = y * n; i < n; i++, o++)
      out[o] = (((w0 * (a[i] >> 4)) >> 16) + ((w1 * (s1[i] >> 4)) >> 16) + 2) >> 2;
  }
  return out;
}
