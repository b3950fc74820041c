/**
 * Shared definition of the synthetic "shapes" world: class colours, background,
 * the detector's per-scale geometry, letterbox maths and an analytic model of the
 * `shapes-det` response (used by the dataset generator to reject ambiguous layouts).
 */

export type Rgb = readonly [number, number, number];

export interface ShapeClass {
  name: string;
  rgb: Rgb;
}

/** Class names and colours (0–255 sRGB). Pairwise L1 distances are >= 380. */
export const SHAPE_CLASSES: readonly ShapeClass[] = [
  { name: 'red', rgb: [220, 20, 20] },
  { name: 'green', rgb: [20, 200, 20] },
  { name: 'blue', rgb: [20, 20, 220] },
];
export const CLASS_NAMES: readonly string[] = SHAPE_CLASSES.map((c) => c.name);

/** Plain background colour of generated images (L1 distance 184–204 from every class). */
export const BACKGROUND_RGB: Rgb = [24, 24, 24];
/** Letterbox padding value (Ultralytics convention). */
export const PADDING_VALUE = 114;

/**
 * Colour match: m_c = clip((1 + MATCH_DEADZONE) - k_c * L1(pixel - colour_c), 0, 1) with
 * k_c = (1 + 2*MATCH_DEADZONE) / L1(background - colour_c). Along the line between the background
 * and a class colour m is (up to the dead zone clipping) the linear coverage fraction, so blurred
 * edges still sum to the true area.
 */
export const MATCH_DEADZONE = 0.15;

export function l1(a: Rgb, b: Rgb): number {
  return Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]);
}

/** Slope k_c per class, in units of 1/(L1 distance of 0..1 values). */
export function matchSlopes(): number[] {
  return SHAPE_CLASSES.map((c) => ((1 + 2 * MATCH_DEADZONE) * 255) / l1(BACKGROUND_RGB, c.rgb));
}

/** Colour match value for one pixel (0–255 RGB), mirroring the ONNX graph. */
export function colourMatch(pixel: Rgb, classIndex: number): number {
  const k = matchSlopes()[classIndex];
  const v = 1 + MATCH_DEADZONE - (k * l1(pixel, SHAPE_CLASSES[classIndex].rgb)) / 255;
  return Math.min(1, Math.max(0, v));
}

export interface DetScale {
  stride: number;
  /** Inner (counting) window, centred on the anchor, in 640-space pixels. */
  window: number;
  /** Outer window = window + stride; the ring between both must be empty of the class. */
  outerWindow: number;
  /** Sizes (square side, 640 space) that score 1.0 at this scale. */
  band: readonly [number, number];
  /** Score falls linearly to 0 this many px outside the band. */
  ramp: number;
}

export const DET_INPUT_SIZE = 640;

export const DET_SCALES: readonly DetScale[] = [
  { stride: 8, window: 40, outerWindow: 48, band: [12, 30], ramp: 3 },
  { stride: 16, window: 80, outerWindow: 96, band: [28, 62], ramp: 5 },
  { stride: 32, window: 160, outerWindow: 192, band: [60, 126], ramp: 10 },
];

/** Completeness penalty: score *= relu(1 - ALPHA * (outerCount - innerCount) / innerCount). */
export const COMPLETENESS_ALPHA = 8;
/** Shape penalty: score *= relu(1 - BETA * (|12 var_x / count - 1| + |12 var_y / count - 1|)). */
export const SHAPE_BETA = 2;
/** Guard for divisions. */
export const DET_EPS = 1e-6;

/** Number of anchors (8400 for 640). */
export function anchorCount(size = DET_INPUT_SIZE): number {
  return DET_SCALES.reduce((n, s) => n + (size / s.stride) ** 2, 0);
}

/** Sizes a square may have (640 space) to be detected: union of bands. */
export const SUPPORTED_SIZE_RANGE: readonly [number, number] = [12, 126];
/** Recommended sizes for generated data (a margin inside the bands). */
export const RECOMMENDED_SIZE_BANDS: readonly (readonly [number, number])[] = [
  [16, 28],
  [32, 58],
  [64, 118],
];

export interface Letterbox {
  scale: number;
  newWidth: number;
  newHeight: number;
  padLeft: number;
  padTop: number;
}

/** Ultralytics-style letterbox geometry (scale = min(S/w, S/h), floor sizes, centred padding). */
export function letterbox(width: number, height: number, size = DET_INPUT_SIZE): Letterbox {
  const scale = Math.min(size / width, size / height);
  const newWidth = Math.floor(width * scale);
  const newHeight = Math.floor(height * scale);
  return {
    scale,
    newWidth,
    newHeight,
    padLeft: Math.floor((size - newWidth) / 2),
    padTop: Math.floor((size - newHeight) / 2),
  };
}

/** An axis-aligned square in some pixel space: top-left corner and side. */
export interface SquareRect {
  classIndex: number;
  x0: number;
  y0: number;
  size: number;
}

export interface SimDetection {
  scaleIndex: number;
  anchorIndex: number;
  classIndex: number;
  score: number;
  cx: number;
  cy: number;
  side: number;
}

function overlap1d(a0: number, a1: number, b0: number, b1: number): [number, number] | null {
  const lo = Math.max(a0, b0);
  const hi = Math.min(a1, b1);
  return hi > lo ? [lo, hi] : null;
}

/**
 * Analytic (blur-free, continuous) evaluation of the shapes-det scoring for squares given
 * in 640-space. Returns every (anchor, class) pair with a positive score.
 */
export function simulateShapesDet(squares: readonly SquareRect[], numClasses = SHAPE_CLASSES.length) {
  const out: SimDetection[] = [];
  let anchorBase = 0;
  DET_SCALES.forEach((sc, scaleIndex) => {
    const n = DET_INPUT_SIZE / sc.stride;
    for (let iy = 0; iy < n; iy++) {
      for (let ix = 0; ix < n; ix++) {
        const ax = (ix + 0.5) * sc.stride;
        const ay = (iy + 0.5) * sc.stride;
        for (let c = 0; c < numClasses; c++) {
          let m0 = 0;
          let mx = 0;
          let my = 0;
          let mxx = 0;
          let myy = 0;
          let outer = 0;
          for (const q of squares) {
            if (q.classIndex !== c) continue;
            const ho = sc.outerWindow / 2;
            const oxr = overlap1d(ax - ho, ax + ho, q.x0, q.x0 + q.size);
            const oyr = overlap1d(ay - ho, ay + ho, q.y0, q.y0 + q.size);
            if (!oxr || !oyr) continue;
            outer += (oxr[1] - oxr[0]) * (oyr[1] - oyr[0]);
            const hi = sc.window / 2;
            const xr = overlap1d(ax - hi, ax + hi, q.x0, q.x0 + q.size);
            const yr = overlap1d(ay - hi, ay + hi, q.y0, q.y0 + q.size);
            if (!xr || !yr) continue;
            const w = xr[1] - xr[0];
            const h = yr[1] - yr[0];
            m0 += w * h;
            mx += h * ((xr[1] ** 2 - xr[0] ** 2) / 2);
            my += w * ((yr[1] ** 2 - yr[0] ** 2) / 2);
            mxx += h * ((xr[1] ** 3 - xr[0] ** 3) / 3);
            myy += w * ((yr[1] ** 3 - yr[0] ** 3) / 3);
          }
          if (m0 <= 0) continue;
          const cx = mx / m0;
          const cy = my / m0;
          const varx = mxx / m0 - cx * cx;
          const vary = myy / m0 - cy * cy;
          const side = Math.sqrt(m0);
          const size = Math.max(
            0,
            1 - (Math.max(0, sc.band[0] - side) + Math.max(0, side - sc.band[1])) / sc.ramp,
          );
          const shape = Math.max(
            0,
            1 - SHAPE_BETA * (Math.abs((12 * varx) / m0 - 1) + Math.abs((12 * vary) / m0 - 1)),
          );
          const complete = Math.max(0, 1 - (COMPLETENESS_ALPHA * Math.max(0, outer - m0)) / m0);
          const score = Math.min(1, size * shape * complete);
          if (score > 0) {
            out.push({
              scaleIndex,
              anchorIndex: anchorBase + iy * n + ix,
              classIndex: c,
              score,
              cx,
              cy,
              side,
            });
          }
        }
      }
    }
    anchorBase += n * n;
  });
  return out;
}

export interface LayoutCheck {
  ok: boolean;
  reason?: string;
}

/** IoU of a detection's box with a square. */
function iouWith(d: SimDetection, q: SquareRect): number {
  const ix = overlap1d(d.cx - d.side / 2, d.cx + d.side / 2, q.x0, q.x0 + q.size);
  const iy = overlap1d(d.cy - d.side / 2, d.cy + d.side / 2, q.y0, q.y0 + q.size);
  if (!ix || !iy) return 0;
  const inter = (ix[1] - ix[0]) * (iy[1] - iy[0]);
  return inter / (d.side * d.side + q.size * q.size - inter);
}

/**
 * Checks that a layout (640 space) is unambiguous for shapes-det: every square is found by an
 * anchor that fully contains it (with a 1 px halo for resize blur), with a clean outer ring,
 * an in-band size and a clear class win; and every (anchor, class) scoring at least
 * `spuriousScore` either reproduces one of the squares within `boxTolerance` px or is a
 * near-duplicate of one (IoU >= `duplicateIou`, removed by any NMS with a lower IoU threshold).
 * A single isolated square always passes: partial views of it never score above 0.2 unless
 * their IoU with it is >= 0.88.
 */
export function checkLayout(
  squares: readonly SquareRect[],
  opts: { spuriousScore?: number; boxTolerance?: number; halo?: number; duplicateIou?: number } = {},
): LayoutCheck {
  const spurious = opts.spuriousScore ?? 0.2;
  const tol = opts.boxTolerance ?? 1;
  const halo = opts.halo ?? 1;
  const dupIou = opts.duplicateIou ?? 0.8;
  const sims = simulateShapesDet(squares);
  const byAnchor = new Map<number, SimDetection[]>();
  for (const d of sims) {
    const list = byAnchor.get(d.anchorIndex) ?? [];
    list.push(d);
    byAnchor.set(d.anchorIndex, list);
  }
  const matches = (d: SimDetection, q: SquareRect) =>
    d.classIndex === q.classIndex &&
    Math.abs(d.cx - (q.x0 + q.size / 2)) <= tol &&
    Math.abs(d.cy - (q.y0 + q.size / 2)) <= tol &&
    Math.abs(d.side - q.size) <= tol;

  for (const d of sims) {
    if (d.score < spurious) continue;
    const ok = squares.some(
      (q) => matches(d, q) || (d.classIndex === q.classIndex && iouWith(d, q) >= dupIou),
    );
    if (!ok) {
      return {
        ok: false,
        reason: `spurious ${d.classIndex} at anchor ${d.anchorIndex} score ${d.score.toFixed(2)}`,
      };
    }
  }
  for (const [qi, q] of squares.entries()) {
    const found = sims.some((d) => {
      if (d.classIndex !== q.classIndex || d.score < 0.9 || !matches(d, q)) return false;
      const sc = DET_SCALES[d.scaleIndex];
      const n = DET_INPUT_SIZE / sc.stride;
      const local =
        d.anchorIndex - DET_SCALES.slice(0, d.scaleIndex).reduce((a, s) => a + (640 / s.stride) ** 2, 0);
      const ax = ((local % n) + 0.5) * sc.stride;
      const ay = (Math.floor(local / n) + 0.5) * sc.stride;
      const hw = sc.window / 2;
      const contained =
        q.x0 - halo >= ax - hw &&
        q.x0 + q.size + halo <= ax + hw &&
        q.y0 - halo >= ay - hw &&
        q.y0 + q.size + halo <= ay + hw;
      if (!contained) return false;
      // Outer ring must not touch any other same-class square (even with halo).
      const ho = sc.outerWindow / 2 + halo;
      const ringClean = squares.every(
        (o, oi) =>
          oi === qi ||
          o.classIndex !== q.classIndex ||
          !overlap1d(ax - ho, ax + ho, o.x0, o.x0 + o.size) ||
          !overlap1d(ay - ho, ay + ho, o.y0, o.y0 + o.size),
      );
      if (!ringClean) return false;
      const others = (byAnchor.get(d.anchorIndex) ?? []).filter((o) => o.classIndex !== q.classIndex);
      return others.every((o) => o.score <= d.score - 0.3);
    });
    if (!found) return { ok: false, reason: `square ${qi} not cleanly detectable` };
  }
  return { ok: true };
}
