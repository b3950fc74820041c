import { round4 } from './numbers.ts';

/**
 * Classification outputs (spec/workflows.md §4.8) and the prediction dicts of §3.4.
 */

export type ClassifierPostProcessing = 'softmax' | 'softmax-fused' | 'sigmoid';

/** True when the scores already form a probability distribution. */
function isDistribution(scores: ArrayLike<number>): boolean {
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (!(s >= 0 && s <= 1)) return false;
    sum += s;
  }
  return Math.abs(sum - 1) <= 1e-3;
}

/**
 * Probabilities of one output row. `softmax`: softmax unless the row already sums to 1
 * (Ultralytics classification exports already emit softmax, §4.8 [I]); `softmax-fused`: as is;
 * `sigmoid` (multi-label): sigmoid unless every score is already in [0, 1]. Values are float32,
 * like the reference's numpy arrays.
 */
export function toProbabilities(scores: ArrayLike<number>, post: ClassifierPostProcessing): number[] {
  const n = scores.length;
  const out = new Array<number>(n);
  if (post === 'softmax-fused' || (post === 'softmax' && isDistribution(scores))) {
    for (let i = 0; i < n; i++) out[i] = Math.fround(scores[i]);
    return out;
  }
  if (post === 'sigmoid') {
    let inUnit = true;
    for (let i = 0; i < n; i++) if (!(scores[i] >= 0 && scores[i] <= 1)) inUnit = false;
    for (let i = 0; i < n; i++) out[i] = Math.fround(inUnit ? scores[i] : 1 / (1 + Math.exp(-scores[i])));
    return out;
  }
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (scores[i] > max) max = scores[i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    out[i] = Math.exp(scores[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < n; i++) out[i] = Math.fround(out[i] / sum);
  return out;
}

/** Identity and timing fields of a classification dict. */
export interface ClassificationMeta {
  inferenceId: string;
  /** seconds spent in the model call */
  time: number;
  image: { width: number; height: number };
  parentId: string;
  rootParentId: string;
}

/**
 * Single-label dict (§3.4): classes with confidence ≥ threshold (inclusive), rounded to 4
 * decimals, by descending confidence; `top`/`confidence` from the first entry, or `""`/0.
 */
export function singleLabelPrediction(
  probs: readonly number[],
  classNames: readonly string[],
  threshold: number,
  meta: ClassificationMeta,
): Record<string, unknown> {
  const t = Math.fround(threshold);
  const entries = probs
    .map((p, classId) => ({ classId, p }))
    .filter((e) => e.p >= t)
    .sort((a, b) => b.p - a.p)
    .map((e) => ({
      class: classNames[e.classId] ?? String(e.classId),
      class_id: e.classId,
      confidence: round4(e.p),
    }));
  return {
    inference_id: meta.inferenceId,
    time: meta.time,
    image: { width: meta.image.width, height: meta.image.height },
    predictions: entries,
    top: entries.length > 0 ? entries[0].class : '',
    confidence: entries.length > 0 ? entries[0].confidence : 0.0,
    prediction_type: 'classification',
    parent_id: meta.parentId,
    root_parent_id: meta.rootParentId,
  };
}

/**
 * Multi-label dict (§3.4): every class with its unrounded confidence and id; `predicted_classes`
 * are the classes with confidence ≥ threshold (the current reference's rule), in class-id order.
 */
export function multiLabelPrediction(
  probs: readonly number[],
  classNames: readonly string[],
  threshold: number,
  meta: ClassificationMeta,
): Record<string, unknown> {
  const predictions: Record<string, { confidence: number; class_id: number }> = {};
  const predicted: string[] = [];
  const t = Math.fround(threshold);
  probs.forEach((p, classId) => {
    const name = classNames[classId] ?? String(classId);
    predictions[name] = { confidence: p, class_id: classId };
    if (p >= t) predicted.push(name);
  });
  return {
    inference_id: meta.inferenceId,
    time: meta.time,
    image: { width: meta.image.width, height: meta.image.height },
    predictions,
    predicted_classes: predicted,
    prediction_type: 'classification',
    parent_id: meta.parentId,
    root_parent_id: meta.rootParentId,
  };
}
