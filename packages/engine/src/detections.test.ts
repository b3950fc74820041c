import { describe, expect, it } from 'vitest';
import {
  cropLineage,
  type Detection,
  Detections,
  rootLineage,
  serialiseDetections,
  toRootCoordinates,
} from './detections.ts';

function det(over: Partial<Detection> = {}): Detection {
  const l = rootLineage('image', 1280, 720);
  return {
    x1: 100,
    y1: 50,
    x2: 212,
    y2: 290,
    confidence: 0.91,
    classId: 0,
    className: 'person',
    detectionId: 'd-1',
    parent: l.parent,
    root: l.root,
    predictionType: 'object-detection',
    ...over,
  };
}

describe('serialiseDetections (§3.2)', () => {
  it('emits keys in the reference order with the centre as x/y', () => {
    const out = serialiseDetections(new Detections([det()], { width: 1280, height: 720 }));
    expect(out).toEqual({
      image: { width: 1280, height: 720 },
      predictions: [
        {
          width: 112,
          height: 240,
          x: 156,
          y: 170,
          confidence: 0.91,
          class_id: 0,
          class: 'person',
          detection_id: 'd-1',
          parent_id: 'image',
        },
      ],
    });
    expect(Object.keys((out.predictions as object[])[0])).toEqual([
      'width',
      'height',
      'x',
      'y',
      'confidence',
      'class_id',
      'class',
      'detection_id',
      'parent_id',
    ]);
  });

  it('puts tracker_id before class when tracked', () => {
    const out = serialiseDetections(new Detections([det({ trackerId: 3 })], { width: 1, height: 1 }));
    expect(Object.keys((out.predictions as object[])[0])).toEqual([
      'width',
      'height',
      'x',
      'y',
      'confidence',
      'class_id',
      'tracker_id',
      'class',
      'detection_id',
      'parent_id',
    ]);
  });

  it('adds parent/root origins for detections left in a crop frame', () => {
    const crop = cropLineage(rootLineage('image', 1280, 720), 'd-1', 100, 50, 1280, 720);
    const d = det({
      x1: 10,
      y1: 10,
      x2: 20,
      y2: 30,
      detectionId: 'd-2',
      parent: crop.parent,
      root: crop.root,
    });
    const [p] = serialiseDetections(new Detections([d], { width: 112, height: 240 })).predictions as Array<
      Record<string, unknown>
    >;
    expect(Object.keys(p).slice(-4)).toEqual([
      'parent_id',
      'parent_origin',
      'root_parent_id',
      'root_parent_origin',
    ]);
    expect(p.parent_id).toBe('d-1');
    expect(p.parent_origin).toEqual({ offset_x: 100, offset_y: 50, width: 1280, height: 720 });
    expect(p.root_parent_id).toBe('image');
    expect(p.root_parent_origin).toEqual({ offset_x: 100, offset_y: 50, width: 1280, height: 720 });
  });

  it('keeps the real image size with zero detections (deliberate difference)', () => {
    expect(serialiseDetections(new Detections([], { width: 3, height: 4 }))).toEqual({
      image: { width: 3, height: 4 },
      predictions: [],
    });
  });
});

describe('toRootCoordinates (§3.6)', () => {
  it('shifts crop detections back into the input image and drops crop identity', () => {
    const crop = cropLineage(rootLineage('image', 1280, 720), 'd-1', 100, 50, 1280, 720);
    const nested = cropLineage(crop, 'd-2', 5, 6, 112, 240);
    const d = det({ x1: 1, y1: 2, x2: 3, y2: 4, parent: nested.parent, root: nested.root });
    const out = toRootCoordinates(new Detections([d], { width: 10, height: 10 }));
    expect(out.image).toEqual({ width: 1280, height: 720 });
    expect([out.items[0].x1, out.items[0].y1, out.items[0].x2, out.items[0].y2]).toEqual([106, 58, 108, 60]);
    const [p] = serialiseDetections(out).predictions as Array<Record<string, unknown>>;
    expect(p.parent_id).toBe('image');
    expect('parent_origin' in p).toBe(false);
  });
});
