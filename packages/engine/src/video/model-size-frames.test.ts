import { describe, expect, it } from 'vitest';
import { planGeometry, preprocess, writeChw } from '../preprocess.ts';
import { modelRecord } from '../testing/records.ts';
import { type CompiledStep, compileWorkflow } from '../workflow/compiler.ts';
import { planModelSizeFrames } from './model-size-frames.ts';

const MODELS = {
  'det/1': modelRecord({ modelId: 'det/1' }),
  'det/320': modelRecord({ modelId: 'det/320', input: { width: 320, height: 320 } }),
};
const IMAGE = { type: 'WorkflowImage', name: 'image' };
const det = (name: string, model_id = 'det/1') => ({
  type: 'roboflow_core/roboflow_object_detection_model@v2',
  name,
  images: '$inputs.image',
  model_id,
});
const CROP = {
  type: 'roboflow_core/dynamic_crop@v1',
  name: 'crop',
  images: '$inputs.image',
  predictions: '$steps.det.predictions',
};
const PRED = { type: 'JsonField', name: 'predictions', selector: '$steps.det.predictions' };

function plan(steps: unknown[], outputs: unknown[] = [PRED]) {
  const compiled = compileWorkflow(
    { version: '1.0', inputs: [IMAGE], steps, outputs },
    { models: MODELS, parameters: {} },
  );
  return planModelSizeFrames(compiled, 'image', {}, { width: 1920, height: 1080 });
}

describe('planModelSizeFrames', () => {
  it('asks ffmpeg for the letterbox resize size when one detector is the only reader', () => {
    expect(plan([det('det')])?.layout).toEqual({
      width: 640,
      height: 360,
      resizeWidth: 640,
      resizeHeight: 360,
      offsetX: 0,
      offsetY: 0,
      padValue: 114,
    });
    // two steps with the same model input are fine
    expect(plan([det('det'), det('det2')])).not.toBeNull();
  });

  it('keeps full frames when a step reads pixels, an output returns the input, or input sizes differ', () => {
    expect(plan([det('det'), CROP])).toBeNull();
    expect(
      plan([det('det')], [PRED, { type: 'JsonField', name: 'img', selector: '$inputs.image' }]),
    ).toBeNull();
    expect(plan([det('det'), det('small', 'det/320')])).toBeNull();
  });

  it('allows other steps that name the input if they neither read pixels nor output images', () => {
    const compiled = compileWorkflow(
      { version: '1.0', inputs: [IMAGE], steps: [det('det')], outputs: [PRED] },
      { models: MODELS, parameters: {} },
    );
    // a tracker-like step: reads the frame's metadata through `image`, outputs detections
    const reader = (kinds: string[], readsPixels = false): CompiledStep => ({
      ...compiled.steps[0],
      name: 'reader',
      type: 'test/reader',
      block: {
        ...compiled.steps[0].block,
        modelTask: undefined,
        readsPixels,
        outputs: [{ name: 'o', kinds }],
      },
      fields: {
        image: { kind: 'selector', selector: { kind: 'input', name: 'image', raw: '$inputs.image' } },
      },
    });
    const withStep = (st: CompiledStep) =>
      planModelSizeFrames(
        { ...compiled, steps: [...compiled.steps, st] },
        'image',
        {},
        { width: 1920, height: 1080 },
      );
    expect(withStep(reader(['object_detection_prediction']))).not.toBeNull();
    expect(withStep(reader(['image']))).toBeNull();
    expect(withStep(reader(['*']))).toBeNull();
    expect(withStep(reader(['object_detection_prediction'], true))).toBeNull();
  });

  it("a frame's image has the source size, the padded model input memoised, and no full pixels", async () => {
    const p = plan([det('det')]);
    if (!p) throw new Error('expected a plan');
    const rgb = Buffer.alloc(640 * 360 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7) & 255;
    const image = p.image({ index: 0, timestampSec: 0, width: 640, height: 360, rgb });
    expect([image.width, image.height]).toEqual([1920, 1080]);
    const spec = { width: 640, height: 640, mode: 'letterbox' as const, paddingValue: 114 };
    const prepared = await preprocess(image, spec);
    const g = planGeometry(1920, 1080, spec);
    expect(prepared.geometry).toEqual(g);
    const want = new Float32Array(3 * 640 * 640);
    writeChw(want, 0, 640, 640, rgb, 640, 360, g.offsetX, g.offsetY, 114);
    expect(Buffer.from(prepared.tensor.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    await expect(image.rgb()).rejects.toThrow(/not kept/);
  });

  it("uses two tensors in turn: frame n+2 overwrites frame n's, never frame n+1's, and each is exact", async () => {
    const p = plan([det('det')]);
    if (!p) throw new Error('expected a plan');
    const spec = { width: 640, height: 640, mode: 'letterbox' as const, paddingValue: 114 };
    const g = planGeometry(1920, 1080, spec);
    const frame = (index: number) => {
      const rgb = Buffer.alloc(640 * 360 * 3, (index * 50) & 255);
      return { index, timestampSec: index / 30, width: 640, height: 360, rgb };
    };
    const tensors = [];
    for (let n = 0; n < 4; n++) {
      const f = frame(n);
      const prepared = await preprocess(p.image(f), spec);
      const want = new Float32Array(3 * 640 * 640);
      writeChw(want, 0, 640, 640, f.rgb, 640, 360, g.offsetX, g.offsetY, 114);
      expect(Buffer.from(prepared.tensor.buffer).equals(Buffer.from(want.buffer)), `frame ${n}`).toBe(true);
      tensors.push(prepared.tensor);
    }
    expect(tensors[2]).toBe(tensors[0]);
    expect(tensors[3]).toBe(tensors[1]);
    expect(tensors[1]).not.toBe(tensors[0]);
  });
});
