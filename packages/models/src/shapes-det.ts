/**
 * `shapes-det`: a hand-constructed detector for solid coloured squares with the
 * Ultralytics YOLOv8 output contract ([N, 4 + C, 8400], rows cx, cy, w, h, class scores).
 *
 * Per class c a colour match map m_c (≈ pixel coverage) is computed; for every anchor the
 * window moments of m_c (count, centroid, variance) give the box exactly, and the score is
 *   size(in band) * shape(variance matches a single square) * completeness(empty outer ring).
 * The box of the best-scoring class is emitted for each anchor.
 */

import { GraphBuilder, type ModelOptions } from './graph.ts';
import { DataType } from './onnx.ts';
import {
  anchorCount,
  BACKGROUND_RGB,
  COMPLETENESS_ALPHA,
  DET_EPS,
  DET_INPUT_SIZE,
  DET_SCALES,
  MATCH_DEADZONE,
  matchSlopes,
  SHAPE_BETA,
  SHAPE_CLASSES,
} from './shapes.ts';

/** Adds the colour-match maps m [N, C, H, W] for input x [N, 3, H, W]. */
export function addColourMatch(g: GraphBuilder, x: string): string {
  const C = SHAPE_CLASSES.length;
  // 1x1 conv: replicate RGB per class and subtract the class colour.
  const w1 = new Float32Array(3 * C * 3);
  const b1 = new Float32Array(3 * C);
  SHAPE_CLASSES.forEach((cls, c) => {
    for (let ch = 0; ch < 3; ch++) {
      w1[(c * 3 + ch) * 3 + ch] = 1;
      b1[c * 3 + ch] = -cls.rgb[ch] / 255;
    }
  });
  const diff = g.conv(x, {
    weight: w1,
    bias: b1,
    inChannels: 3,
    outChannels: 3 * C,
    kernel: 1,
    name: 'colour_diff',
  });
  const absd = g.abs(diff);
  // Grouped 1x1 conv: m = (1 + deadzone) - k_c * sum_ch |diff|.
  const k = matchSlopes();
  const w2 = new Float32Array(C * 3);
  const b2 = new Float32Array(C).fill(1 + MATCH_DEADZONE);
  for (let c = 0; c < C; c++) for (let ch = 0; ch < 3; ch++) w2[c * 3 + ch] = -k[c];
  const lin = g.conv(absd, {
    weight: w2,
    bias: b2,
    inChannels: 3 * C,
    outChannels: C,
    kernel: 1,
    group: C,
    name: 'colour_match',
  });
  return g.clip(lin, 0, 1);
}

/** Side of the pixel blocks whose local moments are computed first (all window edges are multiples of 4). */
const BLOCK = 4;

/** Separable mean over a window (in blocks) centred on anchors of the given stride (in blocks). */
function windowMean(g: GraphBuilder, x: string, window: number, stride: number): string {
  const p = (window - stride) / 2;
  if (!Number.isInteger(p)) throw new Error(`window ${window} / stride ${stride} not centred`);
  const rows = g.averagePool(x, {
    kernel: [window, 1],
    strides: [stride, 1],
    pads: [p, 0, p, 0],
    countIncludePad: true,
  });
  return g.averagePool(rows, {
    kernel: [1, window],
    strides: [1, stride],
    pads: [0, p, 0, p],
    countIncludePad: true,
  });
}

export function buildShapesDetGraph(): GraphBuilder {
  const C = SHAPE_CLASSES.length;
  const S = DET_INPUT_SIZE;
  const half = S / 2;
  const nb = S / BLOCK;
  const g = new GraphBuilder('shapes_det');
  const images = g.input('images', ['N', 3, S, S]);

  const m = addColourMatch(g, images);
  // Local block moments of m relative to each 4x4 block centre: sum m, m*dx, m*dy, m*dx^2, m*dy^2.
  const local = (fn: (dx: number, dy: number) => number, name: string) => {
    const w = new Float32Array(C * BLOCK * BLOCK);
    for (let c = 0; c < C; c++)
      for (let j = 0; j < BLOCK; j++)
        for (let i = 0; i < BLOCK; i++)
          w[(c * BLOCK + j) * BLOCK + i] = fn(i + 0.5 - BLOCK / 2, j + 0.5 - BLOCK / 2);
    return g.conv(m, {
      weight: w,
      inChannels: C,
      outChannels: C,
      kernel: BLOCK,
      stride: BLOCK,
      group: C,
      name,
    });
  };
  const l0 = local(() => 1, 'block_m');
  const l1 = local((dx) => dx, 'block_mdx');
  const l2 = local((_, dy) => dy, 'block_mdy');
  const l3 = local((dx) => dx * dx, 'block_mdxx');
  const l4 = local((_, dy) => dy * dy, 'block_mdyy');
  // Block centres in centred 640-space coordinates.
  const centres = Float32Array.from({ length: nb }, (_, i) => (i + 0.5) * BLOCK - half);
  const xb = g.constF(centres, [1, 1, 1, nb], 'block_x');
  const yb = g.constF(centres, [1, 1, nb, 1], 'block_y');
  const xb2 = g.constF(
    centres.map((v) => 2 * v),
    [1, 1, 1, nb],
    'block_2x',
  );
  const yb2 = g.constF(
    centres.map((v) => 2 * v),
    [1, 1, nb, 1],
    'block_2y',
  );
  const xbb = g.constF(
    centres.map((v) => v * v),
    [1, 1, 1, nb],
    'block_xx',
  );
  const ybb = g.constF(
    centres.map((v) => v * v),
    [1, 1, nb, 1],
    'block_yy',
  );
  // Global moments per block: sum m x = l1 + xb l0; sum m x^2 = l3 + 2 xb l1 + xb^2 l0.
  const s1 = g.add(l1, g.mul(l0, xb));
  const s2 = g.add(l2, g.mul(l0, yb));
  const s3 = g.add(g.add(l3, g.mul(l1, xb2)), g.mul(l0, xbb));
  const s4 = g.add(g.add(l4, g.mul(l2, yb2)), g.mul(l0, ybb));
  const feats = g.concat([l0, s1, s2, s3, s4], 1); // [N, 5C, 160, 160]

  const eps = g.constF([DET_EPS], [], 'eps');
  const one = g.constF([1], [], 'one');
  const twelve = g.constF([12], [], 'twelve');
  const center = g.constF([half], [], 'center');

  const boxParts: string[] = [];
  const scoreParts: string[] = [];
  for (const sc of DET_SCALES) {
    const n = S / sc.stride;
    const kw = sc.window / BLOCK;
    const ko = sc.outerWindow / BLOCK;
    const ks = sc.stride / BLOCK;
    const pooled = windowMean(g, feats, kw, ks);
    const [a0, a1, a2, a3, a4] = g.split(pooled, [C, C, C, C, C], 1);
    const outerMean = windowMean(g, l0, ko, ks);

    const count = g.mul(a0, g.constF([kw * kw], [], 'win_blocks'));
    const outerCount = g.mul(outerMean, g.constF([ko * ko], [], 'outer_blocks'));
    const denom = g.max(a0, eps);
    const countSafe = g.max(count, eps);
    const ex = g.div(a1, denom);
    const ey = g.div(a2, denom);
    const varx = g.sub(g.div(a3, denom), g.mul(ex, ex));
    const vary = g.sub(g.div(a4, denom), g.mul(ey, ey));
    const cx = g.add(ex, center);
    const cy = g.add(ey, center);
    const side = g.sqrt(count);

    // size score: relu(1 - (relu(lo - side) + relu(side - hi)) / ramp)
    const below = g.relu(g.sub(g.constF([sc.band[0]], [], 'band_lo'), side));
    const above = g.relu(g.sub(side, g.constF([sc.band[1]], [], 'band_hi')));
    const sizeScore = g.relu(g.sub(one, g.mul(g.add(below, above), g.constF([1 / sc.ramp], [], 'inv_ramp'))));
    // shape score: a single square has 12*var = side^2 on both axes.
    const relx = g.abs(g.sub(g.div(g.mul(varx, twelve), countSafe), one));
    const rely = g.abs(g.sub(g.div(g.mul(vary, twelve), countSafe), one));
    const shapeScore = g.relu(g.sub(one, g.mul(g.add(relx, rely), g.constF([SHAPE_BETA], [], 'beta'))));
    // completeness: nothing of this class in the ring between inner and outer window.
    const ring = g.relu(g.sub(outerCount, count));
    const completeScore = g.relu(
      g.sub(one, g.mul(g.div(ring, countSafe), g.constF([COMPLETENESS_ALPHA], [], 'alpha'))),
    );
    const score = g.clip(g.mul(g.mul(sizeScore, shapeScore), completeScore), 0, 1);

    // [N, C, n, n] -> [N, C, 1, n*n] per box row; scores -> [N, C, n*n]
    const flat = (t: string) => g.reshape(t, [0, C, 1, n * n]);
    boxParts.push(g.concat([flat(cx), flat(cy), flat(side), flat(side)], 2));
    scoreParts.push(g.reshape(score, [0, C, n * n]));
  }
  const A = anchorCount();
  const boxes = g.concat(boxParts, 3); // [N, C, 4, A]
  const scores = g.concat(scoreParts, 2); // [N, C, A]

  // Pick the box of the best class per anchor: one-hot(argmax) weighted sum over classes.
  const best = g.op('ArgMax', [scores], { axis: 1, keepdims: 1 }); // [N, 1, A] int64
  const classIds = g.constI64(
    SHAPE_CLASSES.map((_, i) => i),
    [1, C, 1],
    'class_ids',
  );
  const onehot = g.op('Cast', [g.op('Equal', [best, classIds])], { to: DataType.FLOAT }); // [N, C, A]
  const onehot4 = g.op('Unsqueeze', [onehot, g.constI64([2])]); // [N, C, 1, A]
  const box = g.reduceSum(g.mul(boxes, onehot4), [1], false); // [N, 4, A]
  const out = g.concat([box, scores], 1, 'output0');
  g.output(out, ['N', 4 + C, A]);
  return g;
}

export const SHAPES_DET_DOC =
  'Synthetic detector for solid squares (classes: ' +
  SHAPE_CLASSES.map((c) => `${c.name}=rgb(${c.rgb.join(',')})`).join(', ') +
  `; background rgb(${BACKGROUND_RGB.join(',')})). YOLOv8 output contract [N, 4+C, 8400].`;

export function buildShapesDet(opts: ModelOptions = {}): Uint8Array {
  return buildShapesDetGraph().build({ docString: SHAPES_DET_DOC, ...opts });
}
