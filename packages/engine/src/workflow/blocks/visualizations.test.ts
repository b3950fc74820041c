import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Detection, Detections, rootLineage } from '../../detections.ts';
import { DEFAULT_PALETTE, ROBOFLOW_PALETTE } from '../../draw/colors.ts';
import { measureText } from '../../draw/font.ts';
import { WorkflowCompileError } from '../../errors.ts';
import { DecodedImage, decodeImage } from '../../image-decode.ts';
import { OrtModelRuntime } from '../../model-runtime.ts';
import { modelRecord } from '../../testing/records.ts';
import { gridDetector } from '../../testing/tiny-models.ts';
import type { BlockContext, BlockDef } from '../block.ts';
import { compileWorkflow } from '../compiler.ts';
import { executeImage } from '../executor.ts';
import { WorkflowImage } from '../values.ts';
import {
  automaticTextScale,
  BOUNDING_BOX_VISUALIZATION,
  LABEL_VISUALIZATION_V1,
  LABEL_VISUALIZATION_V2,
  labelBox,
  labelText,
} from './visualizations.ts';

/** Pixel checks of the Bounding Box and Label visualisations (spec/workflows.md §2.13). */

const GREY = 40;
const W = 200;
const H = 150;

function greyImage(w = W, h = H): WorkflowImage {
  const data = Buffer.alloc(w * h * 3, GREY);
  return WorkflowImage.input(DecodedImage.fromPixels({ data, width: w, height: h }), 'image');
}

function det(x1: number, y1: number, x2: number, y2: number, over: Partial<Detection> = {}): Detection {
  const o = rootLineage('image', W, H).parent;
  return {
    x1,
    y1,
    x2,
    y2,
    confidence: 0.875,
    classId: 0,
    className: 'red',
    detectionId: 'd',
    parent: o,
    root: { ...o },
    predictionType: 'object-detection',
    ...over,
  };
}

const dets = (...items: Detection[]) => new Detections(items, { width: W, height: H });

/** Field defaults of a block, overridden by `args`. */
function withDefaults(block: BlockDef, args: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of block.fields) if (f.default !== undefined) out[f.name] = f.default;
  return { ...out, ...args };
}

const CTX = {} as BlockContext;

async function run(block: BlockDef, args: Record<string, unknown>): Promise<WorkflowImage> {
  const [res] = (await block.run(CTX, [{ index: [0], args: withDefaults(block, args) }])) as Array<{
    image: WorkflowImage;
  }>;
  return res.image;
}

async function px(img: WorkflowImage, x: number, y: number): Promise<number[]> {
  const p = await img.image.rgb();
  const i = (y * p.width + x) * 3;
  return [p.data[i], p.data[i + 1], p.data[i + 2]];
}

const rgb = (c: readonly number[]) => [...c];
const grey = [GREY, GREY, GREY];

describe('Bounding Box Visualization', () => {
  it('draws the outline in the class colour at the box edges, leaving the inside and the input untouched', async () => {
    const input = greyImage();
    const out = await run(BOUNDING_BOX_VISUALIZATION, {
      images: input,
      predictions: dets(det(20, 30, 80, 100, { classId: 2 })),
      thickness: 2,
    });
    const c = rgb(DEFAULT_PALETTE[2]);
    // thickness 2: the band is [edge - 1, edge]
    for (const x of [20, 50, 80]) {
      expect(await px(out, x, 30)).toEqual(c);
      expect(await px(out, x, 29)).toEqual(c);
      expect(await px(out, x, 100)).toEqual(c);
    }
    for (const y of [30, 60, 100]) {
      expect(await px(out, 20, y)).toEqual(c);
      expect(await px(out, 80, y)).toEqual(c);
    }
    expect(await px(out, 50, 28)).toEqual(grey);
    expect(await px(out, 50, 31)).toEqual(grey);
    expect(await px(out, 21, 60)).toEqual(grey);
    expect(await px(out, 50, 65)).toEqual(grey);
    expect(await px(out, 150, 10)).toEqual(grey);
    // copy_image (default true): the input pixels are unchanged
    expect(await px(input, 20, 30)).toEqual(grey);
    expect(out.lineage).toEqual(input.lineage);
  });

  it('selects colours by CLASS, INDEX and TRACK modulo the palette', async () => {
    const boxes = [det(10, 10, 40, 40, { classId: 22, trackerId: 7 }), det(60, 10, 90, 40, { classId: 0 })];
    const a = await run(BOUNDING_BOX_VISUALIZATION, { images: greyImage(), predictions: dets(...boxes) });
    expect(await px(a, 10, 20)).toEqual(rgb(DEFAULT_PALETTE[1])); // class 22 mod 21
    expect(await px(a, 60, 20)).toEqual(rgb(DEFAULT_PALETTE[0]));
    const b = await run(BOUNDING_BOX_VISUALIZATION, {
      images: greyImage(),
      predictions: dets(...boxes),
      color_axis: 'INDEX',
      color_palette: 'ROBOFLOW',
    });
    expect(await px(b, 10, 20)).toEqual(rgb(ROBOFLOW_PALETTE[0]));
    expect(await px(b, 60, 20)).toEqual(rgb(ROBOFLOW_PALETTE[1]));
    const c = await run(BOUNDING_BOX_VISUALIZATION, {
      images: greyImage(),
      predictions: dets(boxes[0]),
      color_axis: 'TRACK',
      color_palette: 'CUSTOM',
      custom_colors: ['#010203', 'rgb(4, 5, 6)', 'bgr(9, 8, 7)'],
    });
    expect(await px(c, 10, 20)).toEqual([4, 5, 6]); // tracker 7 mod 3
    await expect(
      run(BOUNDING_BOX_VISUALIZATION, {
        images: greyImage(),
        predictions: dets(boxes[1]),
        color_axis: 'TRACK',
      }),
    ).rejects.toThrow(/tracker_id/);
  });

  it('draws in place with copy_image false, and rounds corners with roundness', async () => {
    const input = greyImage();
    const out = await run(BOUNDING_BOX_VISUALIZATION, {
      images: input,
      predictions: dets(det(20, 20, 120, 120)),
      copy_image: false,
      roundness: 0.5,
    });
    const c = rgb(DEFAULT_PALETTE[0]);
    expect(await px(input, 70, 20)).toEqual(c);
    expect(await px(out, 70, 20)).toEqual(c);
    expect(await px(out, 20, 70)).toEqual(c);
    expect(await px(out, 20, 20)).toEqual(grey); // the corner is cut by a 25 px radius
    expect(await px(out, 21, 21)).toEqual(grey);
  });

  it('returns the input image itself when there are no detections', async () => {
    const input = greyImage();
    const out = await run(BOUNDING_BOX_VISUALIZATION, { images: input, predictions: dets() });
    expect(out).toBe(input);
  });
});

describe('Label Visualization', () => {
  it('formats label texts like the reference', () => {
    const d = det(10.6, 20.2, 50.9, 70.7, { classId: 3, className: 'car', confidence: 0.8749 });
    expect(labelText('Class', d, 0)).toBe('car');
    expect(labelText('Confidence', d, 0)).toBe('0.87');
    expect(labelText('Class and Confidence', d, 0)).toBe('car 0.87');
    expect(labelText('Confidence', { ...d, confidence: 0.125 }, 0)).toBe('0.12'); // half to even
    expect(labelText('Confidence', { ...d, confidence: 0.375 }, 0)).toBe('0.38');
    expect(labelText('Index', d, 4)).toBe('4');
    expect(labelText('Dimensions', d, 0)).toBe('30, 45 40x50');
    expect(labelText('Area', d, 0)).toBe('2035');
    expect(labelText('Tracker Id', d, 0)).toBe('No Tracker ID');
    expect(labelText('Tracker Id', { ...d, trackerId: 12 }, 0)).toBe('12');
    expect(labelText('Time In Zone', d, 0)).toBe('In zone: N/A');
  });

  it('places label boxes at the anchor for every position', () => {
    expect(labelBox('TOP_LEFT', 10, 50, 30, 20)).toEqual([10, 30, 40, 50]);
    expect(labelBox('TOP_RIGHT', 10, 50, 30, 20)).toEqual([-20, 30, 10, 50]);
    expect(labelBox('TOP_CENTER', 10, 50, 30, 20)).toEqual([-5, 30, 25, 50]);
    expect(labelBox('BOTTOM_LEFT', 10, 50, 30, 20)).toEqual([10, 50, 40, 70]);
    expect(labelBox('BOTTOM_CENTER', 10, 50, 30, 20)).toEqual([-5, 50, 25, 70]);
    expect(labelBox('CENTER', 10, 50, 30, 20)).toEqual([-5, 40, 25, 60]);
    expect(labelBox('CENTER_LEFT', 10, 50, 30, 20)).toEqual([-20, 40, 10, 60]);
    expect(labelBox('CENTER_RIGHT', 10, 50, 30, 20)).toEqual([10, 40, 40, 60]);
  });

  it('fills the label box in the detection colour above the top-left corner with white text inside', async () => {
    const input = greyImage();
    const out = await run(LABEL_VISUALIZATION_V1, {
      images: input,
      predictions: dets(det(40, 90, 140, 140, { classId: 1, className: 'L' })),
      text_padding: 5,
      text_scale: 1,
    });
    const m = measureText('L', 1);
    const c = rgb(DEFAULT_PALETTE[1]);
    // box [40, 90 - (h + 10)) .. [40 + w + 10, 90)
    const top = 90 - (m.height + 10);
    const right = 40 + m.width + 10;
    expect(await px(out, 40, top)).toEqual(c);
    expect(await px(out, right - 1, 89)).toEqual(c);
    expect(await px(out, 42, 89)).toEqual(c); // padding below the text
    expect(await px(out, right, 60)).toEqual(grey);
    expect(await px(out, 40, top - 1)).toEqual(grey);
    expect(await px(out, 50, 95)).toEqual(grey); // inside the detection box: untouched
    // "L": its vertical stroke starts at the padding corner, its foot on the last cap row
    expect(await px(out, 45, top + 5)).toEqual([255, 255, 255]);
    expect(await px(out, 45 + m.width - 1, top + 5 + m.height - 1)).toEqual([255, 255, 255]);
    expect(await px(out, 45 + m.width - 1, top + 5)).toEqual(c);
    expect(await px(input, 40, top)).toEqual(grey);
  });

  it('honours text_position, text_color and border_radius', async () => {
    const out = await run(LABEL_VISUALIZATION_V1, {
      images: greyImage(),
      predictions: dets(det(20, 20, 120, 60, { className: 'ab' })),
      text_position: 'BOTTOM_RIGHT',
      text_color: 'BLACK',
      text_padding: 4,
      border_radius: 6,
    });
    const m = measureText('ab', 1);
    const c = rgb(DEFAULT_PALETTE[0]);
    const [x1, y1, x2, y2] = [120 - m.width - 8, 60, 120, 60 + m.height + 8];
    expect(await px(out, x1 + 10, y1 + 1)).toEqual(c);
    expect(await px(out, x1, y1)).toEqual(grey); // rounded corner
    expect(await px(out, x2 - 1, y2 - 1)).toEqual(grey);
    expect(await px(out, x1 + 1, y1 + 10)).toEqual(c);
    // "a" has ink on its second cap row (after two blank rows) at column 1
    expect(await px(out, x1 + 4 + 3, y1 + 4 + 2 * 3)).toEqual([0, 0, 0]);
  });

  it('v2 Automatic text size scales by the image size, clamped', () => {
    expect(automaticTextScale(1, 1920, 1080)).toBe(1);
    expect(automaticTextScale(2, 2160, 3840)).toBe(4);
    expect(automaticTextScale(1, 100, 100)).toBe(0.3);
    expect(automaticTextScale(10, 4000, 4000)).toBe(5);
  });

  it('v2 Automatic draws smaller labels on small images', async () => {
    const args = { predictions: dets(det(40, 100, 140, 140)), text_padding: 0 };
    const manual = await run(LABEL_VISUALIZATION_V2, { ...args, images: greyImage() });
    const auto = await run(LABEL_VISUALIZATION_V2, {
      ...args,
      images: greyImage(),
      text_size_mode: 'Automatic',
    });
    const c = rgb(DEFAULT_PALETTE[0]);
    // manual: 21 px cap height above y=100; automatic at 0.3: one-pixel cells, 7 px
    expect(await px(manual, 40, 80)).toEqual(c);
    expect(await px(auto, 40, 80)).toEqual(grey);
    expect(await px(auto, 40, 93)).not.toEqual(grey);
  });

  it('v1 with no detections returns the image unchanged', async () => {
    const input = greyImage();
    expect(await run(LABEL_VISUALIZATION_V1, { images: input, predictions: dets() })).toBe(input);
  });
});

describe('compiling visualisation steps', () => {
  const wf = (step: Record<string, unknown>) => ({
    version: '1.0',
    inputs: [{ type: 'WorkflowImage', name: 'image' }],
    steps: [
      {
        type: 'roboflow_core/roboflow_object_detection_model@v2',
        name: 'det',
        images: '$inputs.image',
        model_id: 'grid/1',
      },
      { name: 'vis', image: '$inputs.image', predictions: '$steps.det.predictions', ...step },
    ],
    outputs: [{ type: 'JsonField', name: 'vis', selector: '$steps.vis.image' }],
  });
  const models = { 'grid/1': modelRecord({ modelId: 'grid/1' }) };

  it('accepts every type and alias, and marks the input for full decoding', () => {
    for (const type of [
      'roboflow_core/bounding_box_visualization@v1',
      'BoundingBoxVisualization',
      'roboflow_core/label_visualization@v1',
      'LabelVisualization',
      'roboflow_core/label_visualization@v2',
    ]) {
      const c = compileWorkflow(wf({ type }), { models });
      expect(c.pixelInputs).toEqual(['image']);
      expect(c.stateful).toBe(false);
    }
  });

  it('rejects unknown palettes, colours and options with the field named', () => {
    const bad = (step: Record<string, unknown>): string => {
      try {
        compileWorkflow(wf(step), { models });
      } catch (e) {
        expect(e).toBeInstanceOf(WorkflowCompileError);
        return (e as Error).message;
      }
      throw new Error('compiled');
    };
    expect(bad({ type: 'BoundingBoxVisualization', color_palette: 'Matplotlib Nope' })).toMatch(
      /color_palette.*Matplotlib Viridis/s,
    );
    expect(bad({ type: 'LabelVisualization', text_color: 'puce' })).toMatch(/text_color/);
    expect(bad({ type: 'LabelVisualization', text: 'Everything' })).toMatch(/text/);
    expect(bad({ type: 'roboflow_core/label_visualization@v2', text_size_mode: 'Huge' })).toMatch(
      /text_size_mode/,
    );
    expect(bad({ type: 'BoundingBoxVisualization', custom_colors: ['#12'] })).toMatch(/custom_colors/);
  });
});

describe('chained visualisations in a workflow', () => {
  const REC: ModelRecord = modelRecord({
    modelId: 'grid/1',
    weightsKey: 'grid',
    input: { width: 64, height: 64 },
    resizeMode: 'letterbox',
    paddingValue: 0,
  });
  let runtime: OrtModelRuntime;
  beforeAll(async () => {
    runtime = await OrtModelRuntime.load(
      { 'grid/1': REC },
      async () => gridDetector({ width: 64, height: 64, cell: 16 }),
      { machineType: 'cpu', intraOpNumThreads: 1 },
    );
  });

  it('detector → bounding boxes → labels on the boxed image; images deducted, collected by key path', async () => {
    // 128² black with a red square at [64, 96)²: the detector finds one "red" box there
    const raw = Buffer.alloc(128 * 128 * 3);
    for (let y = 64; y < 96; y++) for (let x = 64; x < 96; x++) raw[(y * 128 + x) * 3] = 255;
    const png = await sharp(raw, { raw: { width: 128, height: 128, channels: 3 } })
      .png()
      .toBuffer();
    const def = {
      version: '1.0',
      inputs: [{ type: 'WorkflowImage', name: 'image' }],
      steps: [
        {
          type: 'roboflow_core/roboflow_object_detection_model@v2',
          name: 'det',
          images: '$inputs.image',
          model_id: 'grid/1',
        },
        {
          type: 'roboflow_core/bounding_box_visualization@v1',
          name: 'box',
          image: '$inputs.image',
          predictions: '$steps.det.predictions',
          thickness: 2,
        },
        {
          type: 'roboflow_core/label_visualization@v1',
          name: 'label',
          image: '$steps.box.image',
          predictions: '$steps.det.predictions',
          text_padding: 2,
          text_scale: 0.5,
        },
      ],
      outputs: [
        { type: 'JsonField', name: 'predictions', selector: '$steps.det.predictions' },
        { type: 'JsonField', name: 'annotated', selector: '$steps.label.image' },
      ],
    };
    const compiled = compileWorkflow(def, { models: { 'grid/1': REC } });
    const image = await decodeImage(png, { full: compiled.pixelInputs.length > 0 });
    const res = await executeImage(compiled, runtime, image);
    expect(res.output.annotated).toBe('<deducted_image>');
    const preds = (res.output.predictions as { predictions: Array<Record<string, unknown>> }).predictions;
    expect(preds.map((p) => [p.class, p.x, p.y, p.width, p.height])).toEqual([['red', 80, 80, 32, 32]]);
    expect(res.images.map((i) => i.path)).toEqual([['annotated']]);
    const out = res.images[0].image;
    expect([out.width, out.height]).toEqual([128, 128]);
    const colour = rgb(DEFAULT_PALETTE[0]);
    // the box outline (from the first step) survives under and beside the label
    expect(await px(out, 96, 80)).toEqual(colour);
    expect(await px(out, 80, 96)).toEqual(colour);
    // the label sits above (64, 64): cells of 2 px (scale 0.5), 14 px text + 4 px padding
    expect(await px(out, 64, 64 - 18)).toEqual(colour);
    expect(await px(out, 64, 64 - 19)).toEqual([0, 0, 0]);
    expect(await px(out, 80, 80)).toEqual([255, 0, 0]); // the square itself is untouched
    // the input pixels were not drawn on (copy_image defaults to true)
    const src = await image.rgb();
    expect(src.data[(64 * 128 + 96) * 3]).toBe(0);
  });
});
