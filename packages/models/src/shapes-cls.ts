/**
 * `shapes-cls`: dominant-colour classifier. Colour match maps (same as shapes-det) are averaged
 * over the image, scaled and soft-maxed: output0 [N, C] probabilities.
 */
import { GraphBuilder, type ModelOptions } from './graph.ts';
import { SHAPE_CLASSES } from './shapes.ts';
import { addColourMatch } from './shapes-det.ts';

export const CLS_INPUT_SIZE = 224;
/** Logit = CLS_LOGIT_SCALE * (fraction of the image matching the class colour). */
export const CLS_LOGIT_SCALE = 20;

export function buildShapesClsGraph(): GraphBuilder {
  const C = SHAPE_CLASSES.length;
  const S = CLS_INPUT_SIZE;
  const g = new GraphBuilder('shapes_cls');
  const images = g.input('images', ['N', 3, S, S]);
  const m = addColourMatch(g, images);
  const frac = g.op('GlobalAveragePool', [m]); // [N, C, 1, 1]
  const flat = g.op('Flatten', [frac], { axis: 1 }); // [N, C]
  const logits = g.mul(flat, g.constF([CLS_LOGIT_SCALE], [], 'logit_scale'));
  const probs = g.softmax(logits, 1, 'output0');
  g.output(probs, ['N', C]);
  return g;
}

export function buildShapesCls(opts: ModelOptions = {}): Uint8Array {
  return buildShapesClsGraph().build({
    docString: `Dominant-colour classifier over ${SHAPE_CLASSES.map((c) => c.name).join('/')}; softmax fused.`,
    ...opts,
  });
}
