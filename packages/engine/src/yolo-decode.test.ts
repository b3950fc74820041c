import { describe, expect, it } from 'vitest';
import { rootLineage } from './detections.ts';
import { planGeometry } from './preprocess.ts';
import {
  type Box,
  decodeNmsFused,
  decodeYoloV8,
  iou,
  mapBoxesToSource,
  nonMaxSuppression,
  type TensorView,
  toDetections,
} from './yolo-decode.ts';

/**
 * Parity tests of spec/workflows.md §5.6 item 3 on a hand-built YOLOv8-layout tensor
 * `[1, 4 + C, N]` (C = 3 classes a, b, c), image 1280x720, model input 640x640.
 */

const CLASSES = ['a', 'b', 'c'];

/** anchors: [cx, cy, w, h, score_a, score_b, score_c] */
const ANCHORS: number[][] = [
  [100, 200, 40, 20, 0.9, 0.1, 0.0], // 0: a 0.9 → (80,190,120,210)
  [102, 200, 40, 20, 0.8, 0.0, 0.0], // 1: a 0.8, IoU 0.905 with 0 → suppressed
  [102, 200, 40, 20, 0.0, 0.85, 0.0], // 2: b 0.85, same box: kept per class, suppressed class-agnostic
  [400, 300, 10, 10, 0.0, 0.0, 0.4], // 3: exactly the threshold → dropped (strict >)
  [630, 320, 40, 40, 0.0, 0.0, 0.41], // 4: c 0.41, crosses the right edge → clamped
  [300, 400, 20.5, 10, 0.0, 0.7, 0.0], // 5: b 0.7, corners land on .5 after mapping → half to even
];

function tensor(anchors: number[][]): TensorView {
  const n = anchors.length;
  const k = anchors[0].length;
  const data = new Float32Array(k * n);
  for (const [i, a] of anchors.entries()) for (const [c, v] of a.entries()) data[c * n + i] = v;
  return { data, dims: [1, k, n] };
}

const DEFAULTS = { confidence: 0.4, iouThreshold: 0.3, maxDetections: 300, classAgnosticNms: false };
const LETTERBOX = planGeometry(1280, 720, { width: 640, height: 640, mode: 'letterbox', paddingValue: 114 });
const STRETCH = planGeometry(1280, 720, { width: 640, height: 640, mode: 'stretch', paddingValue: 0 });

const corners = (b: Box) => [b.x1, b.y1, b.x2, b.y2];

describe('decodeYoloV8', () => {
  it('keeps scores strictly above the confidence, per-class NMS at IoU 0.3, descending score', () => {
    const boxes = decodeYoloV8(tensor(ANCHORS), 0, DEFAULTS);
    expect(boxes.map((b) => [b.classId, Math.fround(b.score)])).toEqual([
      [0, Math.fround(0.9)],
      [1, Math.fround(0.85)],
      [1, Math.fround(0.7)],
      [2, Math.fround(0.41)],
    ]);
    expect(corners(boxes[0])).toEqual([80, 190, 120, 210]);
  });

  it('class-agnostic NMS suppresses across classes', () => {
    const boxes = decodeYoloV8(tensor(ANCHORS), 0, { ...DEFAULTS, classAgnosticNms: true });
    expect(boxes.map((b) => b.classId)).toEqual([0, 1, 2]);
    expect(boxes[1].score).toBeCloseTo(0.7, 6);
  });

  it('suppresses only IoU strictly above the threshold', () => {
    // two boxes with IoU exactly 1/3: (0,0,20,10) and (10,0,30,10) → inter 100, union 300
    const t = tensor([
      [10, 5, 20, 10, 0.9, 0, 0],
      [20, 5, 20, 10, 0.8, 0, 0],
    ]);
    expect(decodeYoloV8(t, 0, { ...DEFAULTS, iouThreshold: 1 / 3 })).toHaveLength(2);
    expect(decodeYoloV8(t, 0, { ...DEFAULTS, iouThreshold: 0.33 })).toHaveLength(1);
  });

  it('caps at maxDetections after NMS', () => {
    const boxes = decodeYoloV8(tensor(ANCHORS), 0, { ...DEFAULTS, maxDetections: 2 });
    expect(boxes.map((b) => b.classId)).toEqual([0, 1]);
  });

  it('applies per-class thresholds where given', () => {
    const boxes = decodeYoloV8(tensor(ANCHORS), 0, {
      ...DEFAULTS,
      classConfidence: [0.95, undefined, undefined],
    });
    expect(boxes.map((b) => b.classId)).toEqual([1, 1, 2]);
  });

  it('reads the right batch element', () => {
    const one = tensor(ANCHORS);
    const two: TensorView = {
      data: new Float32Array([...new Float32Array(one.data.length), ...one.data]),
      dims: [2, 7, ANCHORS.length],
    };
    expect(decodeYoloV8(two, 0, DEFAULTS)).toEqual([]);
    expect(decodeYoloV8(two, 1, DEFAULTS)).toEqual(decodeYoloV8(one, 0, DEFAULTS));
  });
});

describe('mapBoxesToSource', () => {
  it('letterbox: subtracts pads, divides by scale, clamps, rounds half to even', () => {
    expect(LETTERBOX).toMatchObject({
      scaleX: 0.5,
      scaleY: 0.5,
      offsetX: 0,
      offsetY: 140,
      resizeWidth: 640,
      resizeHeight: 360,
    });
    const mapped = mapBoxesToSource(decodeYoloV8(tensor(ANCHORS), 0, DEFAULTS), LETTERBOX);
    expect(mapped.map(corners)).toEqual([
      [160, 100, 240, 140], // anchor 0
      [164, 100, 244, 140], // anchor 2
      [580, 510, 620, 530], // anchor 5: 579.5 → 580, 620.5 → 620 (half to even)
      [1220, 320, 1280, 400], // anchor 4: x2 1300 clamped to 1280
    ]);
  });

  it('stretch: independent x/y scales', () => {
    const [first] = mapBoxesToSource(decodeYoloV8(tensor(ANCHORS), 0, DEFAULTS), STRETCH);
    // y: 190 × 720/640 = 213.75 → 214; 210 × 1.125 = 236.25 → 236
    expect(corners(first)).toEqual([160, 214, 240, 236]);
  });
});

describe('toDetections', () => {
  it('applies class_filter after the cap (can return fewer than max_detections)', () => {
    const capped = mapBoxesToSource(
      decodeYoloV8(tensor(ANCHORS), 0, { ...DEFAULTS, maxDetections: 2 }),
      LETTERBOX,
    );
    const lineage = rootLineage('image', 1280, 720);
    expect(toDetections(capped, CLASSES, { width: 1280, height: 720 }, lineage, ['c']).length).toBe(0);
    const all = mapBoxesToSource(decodeYoloV8(tensor(ANCHORS), 0, DEFAULTS), LETTERBOX);
    const filtered = toDetections(all, CLASSES, { width: 1280, height: 720 }, lineage, ['c']);
    expect(filtered.items.map((d) => d.className)).toEqual(['c']);
    expect(toDetections(all, CLASSES, { width: 1280, height: 720 }, lineage, []).length).toBe(4);
  });

  it('names classes, gives each detection a UUID4 and the image identity', () => {
    const boxes: Box[] = [{ x1: 1, y1: 2, x2: 3, y2: 4, score: 0.5, classId: 7 }];
    const d = toDetections(boxes, CLASSES, { width: 10, height: 10 }, rootLineage('image', 10, 10), null);
    expect(d.items[0].className).toBe('7');
    expect(d.items[0].detectionId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(d.items[0].parent.id).toBe('image');
  });
});

describe('decodeNmsFused', () => {
  it('filters with >= and caps, no NMS', () => {
    const rows = [
      [10, 10, 20, 20, 0.4, 1],
      [10, 10, 20, 20, 0.9, 0],
      [11, 10, 21, 20, 0.39, 0],
    ];
    const t: TensorView = { data: Float32Array.from(rows.flat()), dims: [1, 3, 6] };
    expect(decodeNmsFused(t, 0, { confidence: 0.4, maxDetections: 300 }).map((b) => b.classId)).toEqual([
      0, 1,
    ]);
    expect(decodeNmsFused(t, 0, { confidence: 0.4, maxDetections: 1 })).toHaveLength(1);
  });
});

describe('nonMaxSuppression / iou', () => {
  it('iou of identical boxes is 1 and of disjoint boxes 0', () => {
    const a = { x1: 0, y1: 0, x2: 10, y2: 10, score: 1, classId: 0 };
    expect(iou(a, a)).toBe(1);
    expect(iou(a, { ...a, x1: 10, x2: 20 })).toBe(0);
  });

  it('handles 8400 anchors × 80 classes quickly', () => {
    const n = 8400;
    const k = 84;
    const data = new Float32Array(k * n);
    let seed = 1;
    const rnd = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < n; i++) {
      data[i] = rnd() * 640;
      data[n + i] = rnd() * 640;
      data[2 * n + i] = 10 + rnd() * 100;
      data[3 * n + i] = 10 + rnd() * 100;
      for (let c = 0; c < 80; c++) data[(4 + c) * n + i] = rnd() * 0.5;
    }
    const t0 = performance.now();
    const boxes = decodeYoloV8({ data, dims: [1, k, n] }, 0, { ...DEFAULTS, confidence: 0.25 });
    expect(performance.now() - t0).toBeLessThan(500);
    expect(boxes.length).toBeGreaterThan(0);
    expect(boxes.length).toBeLessThanOrEqual(300);
    expect(nonMaxSuppression(boxes, 0.3, false)).toHaveLength(boxes.length);
  });
});
