import { describe, expect, it } from 'vitest';
import { multiLabelPrediction, singleLabelPrediction, toProbabilities } from './classify.ts';

const META = {
  inferenceId: 'inf-1',
  time: 0.01,
  image: { width: 100, height: 50 },
  parentId: 'det-1',
  rootParentId: 'image',
};

describe('toProbabilities (§4.8)', () => {
  it('applies softmax to logits', () => {
    const p = toProbabilities([0, Math.log(3)], 'softmax');
    expect(p[0]).toBeCloseTo(0.25, 6);
    expect(p[1]).toBeCloseTo(0.75, 6);
  });

  it('leaves outputs that already sum to 1 alone (Ultralytics exports softmax)', () => {
    expect(toProbabilities([0.2, 0.3, 0.5], 'softmax')).toEqual([
      Math.fround(0.2),
      Math.fround(0.3),
      Math.fround(0.5),
    ]);
  });

  it('never applies softmax to softmax-fused outputs', () => {
    expect(toProbabilities([0.2, 0.3], 'softmax-fused')).toEqual([Math.fround(0.2), Math.fround(0.3)]);
  });

  it('applies sigmoid to multi-label logits, not to probabilities', () => {
    expect(toProbabilities([0, 2], 'sigmoid')[0]).toBe(0.5);
    expect(toProbabilities([3, -3], 'sigmoid')[0]).toBeCloseTo(0.9526, 4);
    expect(toProbabilities([0.9, 0.1], 'sigmoid')).toEqual([Math.fround(0.9), Math.fround(0.1)]);
  });
});

describe('singleLabelPrediction (§3.4)', () => {
  it('keeps classes at or above the threshold (inclusive), rounded to 4 decimals, descending', () => {
    const probs = [0.1, 0.4, 0.123456, 0.376544].map(Math.fround);
    const p = singleLabelPrediction(probs, ['a', 'b', 'c', 'd'], 0.123456, META);
    expect(Object.keys(p)).toEqual([
      'inference_id',
      'time',
      'image',
      'predictions',
      'top',
      'confidence',
      'prediction_type',
      'parent_id',
      'root_parent_id',
    ]);
    expect(p.predictions).toEqual([
      { class: 'b', class_id: 1, confidence: 0.4 },
      { class: 'd', class_id: 3, confidence: 0.3765 },
      { class: 'c', class_id: 2, confidence: 0.1235 },
    ]);
    expect(p.top).toBe('b');
    expect(p.confidence).toBe(0.4);
    expect(p.prediction_type).toBe('classification');
    expect([p.parent_id, p.root_parent_id]).toEqual(['det-1', 'image']);
    expect(p.image).toEqual({ width: 100, height: 50 });
  });

  it('has an empty top and confidence 0 when nothing passes', () => {
    const p = singleLabelPrediction([0.3, 0.3, 0.4].map(Math.fround), ['a', 'b', 'c'], 0.5, META);
    expect(p.predictions).toEqual([]);
    expect(p.top).toBe('');
    expect(p.confidence).toBe(0);
  });
});

describe('multiLabelPrediction (§3.4)', () => {
  it('lists every class with unrounded confidence; predicted classes in class-id order', () => {
    const probs = [0.9, 0.2, 0.55].map(Math.fround);
    const p = multiLabelPrediction(probs, ['x', 'y', 'z'], 0.5, META);
    expect(Object.keys(p)).toEqual([
      'inference_id',
      'time',
      'image',
      'predictions',
      'predicted_classes',
      'prediction_type',
      'parent_id',
      'root_parent_id',
    ]);
    expect(p.predictions).toEqual({
      x: { confidence: probs[0], class_id: 0 },
      y: { confidence: probs[1], class_id: 1 },
      z: { confidence: probs[2], class_id: 2 },
    });
    expect(p.predicted_classes).toEqual(['x', 'z']);
  });
});
