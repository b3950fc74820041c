import { type Detection, Detections, type Lineage } from './detections.ts';
import { clamp, roundHalfEven } from './numbers.ts';
import type { Geometry } from './preprocess.ts';

/**
 * Decoding of Ultralytics YOLOv8 / YOLO11 detection outputs (spec/workflows.md §4.2–4.7), with
 * the semantics of Roboflow's current implementation:
 * per anchor `score = max class score`, `class = argmax`; keep `score > confidence` (strict);
 * centre → corners; greedy NMS by descending score, per class (or across classes), suppressing
 * IoU > threshold; first `maxDetections`; map back to the image (subtract offsets, divide by
 * scale, clamp, round half to even); `class_filter` afterwards.
 */

/** A model output tensor. */
export interface TensorView {
  data: Float32Array;
  dims: readonly number[];
}

/** A box in some pixel frame. */
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  classId: number;
}

export interface DecodeOptions {
  /** keep boxes scoring strictly above this */
  confidence: number;
  /** per-class thresholds (index = class id) that replace `confidence` where defined */
  classConfidence?: ReadonlyArray<number | undefined> | null;
  iouThreshold: number;
  maxDetections: number;
  classAgnosticNms: boolean;
}

/** Intersection over union of two corner boxes (continuous coordinates). */
export function iou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  if (iw <= 0) return 0;
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy NMS over boxes sorted by descending score: a box is dropped when its IoU with a kept box
 * (of the same class unless `agnostic`) is above `threshold`. Stops at `limit` kept boxes, which
 * equals running NMS fully and keeping the first `limit`.
 */
export function nonMaxSuppression(
  sorted: readonly Box[],
  threshold: number,
  agnostic: boolean,
  limit = Number.POSITIVE_INFINITY,
): Box[] {
  const kept: Box[] = [];
  const byClass = new Map<number, Box[]>();
  for (const box of sorted) {
    if (kept.length >= limit) break;
    const key = agnostic ? -1 : box.classId;
    let group = byClass.get(key);
    if (!group) {
      group = [];
      byClass.set(key, group);
    }
    let suppressed = false;
    for (const k of group) {
      if (iou(k, box) > threshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) {
      group.push(box);
      kept.push(box);
    }
  }
  return kept;
}

function sortByScore(boxes: Box[]): Box[] {
  // Array.prototype.sort is stable: equal scores keep anchor order.
  return boxes.sort((a, b) => b.score - a.score);
}

/**
 * Decodes batch element `b` of a `[B, 4 + C, N]` output: boxes in model-input pixels, after the
 * confidence filter, NMS and the `maxDetections` cap, in descending score.
 */
export function decodeYoloV8(out: TensorView, b: number, opts: DecodeOptions): Box[] {
  const [batch, channels, n] = out.dims;
  if (out.dims.length !== 3 || channels < 5)
    throw new Error(`expected a [B, 4 + C, N] output, got [${out.dims.join(', ')}]`);
  if (b < 0 || b >= batch) throw new Error(`batch index ${b} out of range ${batch}`);
  const classes = channels - 4;
  const data = out.data;
  const base = b * channels * n;
  // thresholds compared in float32, as torch compares a float32 tensor with a Python float
  const globalThreshold = Math.fround(opts.confidence);
  const perClass = opts.classConfidence
    ? opts.classConfidence.map((t) => (t === undefined ? undefined : Math.fround(t)))
    : null;
  // max and argmax over classes, one class row at a time (rows are contiguous; walking an anchor's
  // column instead touches a new cache line per class); strict `>` keeps the first maximum
  const bestScore = data.slice(base + 4 * n, base + 5 * n);
  const bestClass = new Uint32Array(n);
  for (let c = 1; c < classes; c++) {
    const row = base + (4 + c) * n;
    for (let i = 0; i < n; i++) {
      const s = data[row + i];
      if (s > bestScore[i]) {
        bestScore[i] = s;
        bestClass[i] = c;
      }
    }
  }
  const candidates: Box[] = [];
  for (let i = 0; i < n; i++) {
    const best = bestScore[i];
    const cls = bestClass[i];
    const threshold = perClass?.[cls] ?? globalThreshold;
    if (!(best > threshold)) continue;
    const cx = data[base + i];
    const cy = data[base + n + i];
    const hw = data[base + 2 * n + i] / 2;
    const hh = data[base + 3 * n + i] / 2;
    candidates.push({ x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh, score: best, classId: cls });
  }
  return nonMaxSuppression(
    sortByScore(candidates),
    opts.iouThreshold,
    opts.classAgnosticNms,
    opts.maxDetections,
  );
}

/**
 * Decodes batch element `b` of an NMS-fused `[B, N, 6]` output (`x1, y1, x2, y2, score, class`):
 * only a confidence filter (`>=`, as the reference) and the cap.
 */
export function decodeNmsFused(
  out: TensorView,
  b: number,
  opts: Pick<DecodeOptions, 'confidence' | 'classConfidence' | 'maxDetections'>,
): Box[] {
  const [batch, n, width] = out.dims;
  if (out.dims.length !== 3 || width !== 6)
    throw new Error(`expected a [B, N, 6] output, got [${out.dims.join(', ')}]`);
  if (b < 0 || b >= batch) throw new Error(`batch index ${b} out of range ${batch}`);
  const data = out.data;
  const boxes: Box[] = [];
  for (let i = 0; i < n; i++) {
    const o = (b * n + i) * 6;
    const classId = Math.round(data[o + 5]);
    const score = data[o + 4];
    const threshold = Math.fround(opts.classConfidence?.[classId] ?? opts.confidence);
    if (score >= threshold)
      boxes.push({ x1: data[o], y1: data[o + 1], x2: data[o + 2], y2: data[o + 3], score, classId });
  }
  return sortByScore(boxes).slice(0, opts.maxDetections);
}

/** Maps model-input boxes back to the source image: `(v - offset) / scale`, clamped, rounded half to even. */
export function mapBoxesToSource(boxes: readonly Box[], g: Geometry): Box[] {
  return boxes.map((box) => ({
    ...box,
    x1: roundHalfEven(clamp((box.x1 - g.offsetX) / g.scaleX, 0, g.srcWidth)),
    y1: roundHalfEven(clamp((box.y1 - g.offsetY) / g.scaleY, 0, g.srcHeight)),
    x2: roundHalfEven(clamp((box.x2 - g.offsetX) / g.scaleX, 0, g.srcWidth)),
    y2: roundHalfEven(clamp((box.y2 - g.offsetY) / g.scaleY, 0, g.srcHeight)),
  }));
}

/** Class name of an id; the id as a string when the model has more classes than names (§4.7). */
export function className(classNames: readonly string[], id: number): string {
  return classNames[id] ?? String(id);
}

/**
 * Builds detections for one image from mapped boxes: class names, fresh UUID4 ids, identity
 * metadata; then `classFilter` (applied after the cap, as the reference).
 */
export function toDetections(
  boxes: readonly Box[],
  classNames: readonly string[],
  image: { width: number; height: number },
  lineage: Lineage,
  classFilter: readonly string[] | null | undefined,
  newId: () => string = () => crypto.randomUUID(),
): Detections {
  const items: Detection[] = [];
  for (const box of boxes) {
    const name = className(classNames, box.classId);
    if (classFilter && classFilter.length > 0 && !classFilter.includes(name)) continue;
    items.push({
      x1: box.x1,
      y1: box.y1,
      x2: box.x2,
      y2: box.y2,
      confidence: box.score,
      classId: box.classId,
      className: name,
      detectionId: newId(),
      parent: { ...lineage.parent },
      root: { ...lineage.root },
      predictionType: 'object-detection',
    });
  }
  return new Detections(items, image);
}
