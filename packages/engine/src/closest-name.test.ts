import { describe, expect, it } from 'vitest';
import { closestName } from './closest-name.ts';

describe('closestName', () => {
  const fields = ['images', 'model_id', 'confidence', 'iou_threshold', 'max_detections', 'class_filter'];

  it('finds shortened, misspelled and differently cased names', () => {
    expect(closestName('iou', fields)).toBe('iou_threshold');
    expect(closestName('confidance', fields)).toBe('confidence');
    expect(closestName('maxDetections', fields)).toBe('max_detections');
    expect(closestName('image', fields)).toBe('images');
    expect(closestName('filter', fields)).toBe('class_filter');
  });

  it('suggests nothing when no name is close', () => {
    expect(closestName('colour', fields)).toBeUndefined();
    expect(closestName('x', fields)).toBeUndefined();
  });
});
