import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { WorkflowStepError } from '../errors.ts';
import { decodeImage } from '../image-decode.ts';
import { type InferenceModel, type ModelRuntime, OrtModelRuntime } from '../model-runtime.ts';
import { modelRecord } from '../testing/records.ts';
import { channelClassifier, gridDetector } from '../testing/tiny-models.ts';
import type { TensorView } from '../yolo-decode.ts';
import { compileWorkflow } from './compiler.ts';
import { executeImage, runImage } from './executor.ts';

/**
 * Output construction (§1.10, §5.6 item 2) and serialisation (§3) on real tiny ONNX models:
 * a grid detector (64² input, 16 px cells, classes red/green/blue by channel mean) and a
 * channel classifier (16² input).
 */

const DET_REC = modelRecord({
  modelId: 'grid/1',
  weightsKey: 'grid',
  input: { width: 64, height: 64 },
  resizeMode: 'letterbox',
  paddingValue: 0,
});
const CLS_REC = modelRecord({
  modelId: 'colour/1',
  weightsKey: 'colour',
  task: 'classification',
  postProcessing: 'softmax',
  input: { width: 16, height: 16 },
  resizeMode: 'stretch',
});
const MODELS: Record<string, ModelRecord> = { 'grid/1': DET_REC, 'colour/1': CLS_REC };

let runtime: OrtModelRuntime;

/** 128² black PNG with a red square at [0,32)² and a blue one at [64,96)². */
async function twoSquares(): Promise<Buffer> {
  const raw = Buffer.alloc(128 * 128 * 3);
  for (let y = 0; y < 128; y++) {
    for (let x = 0; x < 128; x++) {
      if (x < 32 && y < 32) raw[(y * 128 + x) * 3] = 255;
      if (x >= 64 && x < 96 && y >= 64 && y < 96) raw[(y * 128 + x) * 3 + 2] = 255;
    }
  }
  return sharp(raw, { raw: { width: 128, height: 128, channels: 3 } })
    .png()
    .toBuffer();
}

async function black(): Promise<Buffer> {
  return sharp({ create: { width: 128, height: 128, channels: 3, background: '#000' } })
    .png()
    .toBuffer();
}

beforeAll(async () => {
  runtime = await OrtModelRuntime.load(
    MODELS,
    async (r) =>
      r.task === 'object-detection'
        ? gridDetector({ width: 64, height: 64, cell: 16 })
        : channelClassifier({ width: 16, height: 16 }),
    { machineType: 'cpu', intraOpNumThreads: 1 },
  );
});

const IMAGE = { type: 'WorkflowImage', name: 'image' };
const DET = {
  type: 'roboflow_core/roboflow_object_detection_model@v2',
  name: 'det',
  images: '$inputs.image',
  model_id: 'grid/1',
};
const CROP = {
  type: 'roboflow_core/dynamic_crop@v1',
  name: 'crop',
  images: '$inputs.image',
  predictions: '$steps.det.predictions',
};
const CLS = {
  type: 'roboflow_core/roboflow_classification_model@v2',
  name: 'cls',
  images: '$steps.crop.crops',
  model_id: 'colour/1',
};
const COUNT = {
  type: 'roboflow_core/property_definition@v1',
  name: 'count',
  data: '$steps.det.predictions',
  operations: [{ type: 'SequenceLength' }],
};

const wf = (steps: unknown[], outputs: unknown[], inputs: unknown[] = [IMAGE]) => ({
  version: '1.0',
  inputs,
  steps,
  outputs,
});
const out = (name: string, selector: string, coordinates_system?: string) => ({
  type: 'JsonField',
  name,
  selector,
  ...(coordinates_system ? { coordinates_system } : {}),
});

type Pred = Record<string, unknown>;

describe('runImage on detector → crop → classifier', () => {
  const def = wf(
    [DET, CROP, CLS, COUNT],
    [
      out('det', '$steps.det.predictions'),
      out('cls', '$steps.cls.predictions'),
      out('crops', '$steps.crop.crops'),
      out('count', '$steps.count.output'),
    ],
  );

  it('builds one dict per image with nested lists for crops', async () => {
    const compiled = compileWorkflow(def, { models: MODELS });
    const res = await executeImage(compiled, runtime, await decodeImage(await twoSquares(), { full: true }));
    const r = res.output;
    expect(Object.keys(r)).toEqual(['det', 'cls', 'crops', 'count']);
    const det = r.det as { image: unknown; predictions: Pred[] };
    expect(det.image).toEqual({ width: 128, height: 128 });
    expect(det.predictions.map((p) => [p.class, p.x, p.y, p.width, p.height, p.parent_id])).toEqual([
      ['red', 16, 16, 32, 32, 'image'],
      ['blue', 80, 80, 32, 32, 'image'],
    ]);
    const cls = r.cls as Pred[];
    expect(cls).toHaveLength(2);
    expect(cls.map((c) => c.top)).toEqual(['red', 'blue']);
    expect(cls[0].parent_id).toBe(det.predictions[0].detection_id);
    expect(cls[0].root_parent_id).toBe('image');
    expect(cls[0].image).toEqual({ width: 32, height: 32 });
    expect(cls[0].inference_id).toBe(cls[1].inference_id); // one model call for all crops of the image
    expect(r.crops).toEqual(['<deducted_image>', '<deducted_image>']);
    expect(r.count).toBe(2);
    expect(res.images.map((i) => i.path)).toEqual([
      ['crops', 0],
      ['crops', 1],
    ]);
    expect(res.detectionsByClass).toEqual({ red: 1, blue: 1 });
  });

  it('gives [] for an image without boxes', async () => {
    const compiled = compileWorkflow(def, { models: MODELS });
    const r = await runImage(compiled, runtime, await decodeImage(await black()));
    expect(r).toEqual({
      det: { image: { width: 128, height: 128 }, predictions: [] },
      cls: [],
      crops: [],
      count: 0,
    });
  });

  it('decodes the input once even when the detector runs before the crop', async () => {
    const compiled = compileWorkflow(def, { models: MODELS });
    expect(compiled.pixelInputs).toEqual(['image']);
  });
});

describe('coordinates systems (§3.6)', () => {
  const DET2 = { ...DET, name: 'det2', images: '$steps.crop.crops', max_detections: 1 };
  const def = wf(
    [DET, CROP, DET2],
    [
      out('own', '$steps.det2.predictions', 'own'),
      out('parent', '$steps.det2.predictions'),
      out('moved', '$steps.crop.predictions', 'own'),
    ],
  );

  it('keeps crop frames with "own" and maps back with "parent"', async () => {
    const compiled = compileWorkflow(def, { models: MODELS });
    const r = await runImage(compiled, runtime, await decodeImage(await twoSquares()));
    const own = r.own as Array<{ image: unknown; predictions: Pred[] }>;
    const parent = r.parent as Array<{ image: unknown; predictions: Pred[] }>;
    // the blue crop is at (64, 64); the crop is 32², letterboxed ×2 into 64²: first cell is 8 px
    const [blueOwn] = own[1].predictions;
    expect(own[1].image).toEqual({ width: 32, height: 32 });
    expect([blueOwn.x, blueOwn.y, blueOwn.width, blueOwn.height]).toEqual([4, 4, 8, 8]);
    expect(blueOwn.parent_origin).toEqual({ offset_x: 64, offset_y: 64, width: 128, height: 128 });
    expect(blueOwn.root_parent_id).toBe('image');
    expect(blueOwn.root_parent_origin).toEqual({ offset_x: 64, offset_y: 64, width: 128, height: 128 });
    const [blueParent] = parent[1].predictions;
    expect(parent[1].image).toEqual({ width: 128, height: 128 });
    expect([blueParent.x, blueParent.y, blueParent.parent_id]).toEqual([68, 68, 'image']);
    expect(Object.keys(blueParent)).not.toContain('parent_origin');
    // Dynamic Crop's own predictions: moved into the crop frame, input image metadata kept
    const moved = r.moved as Array<{ predictions: Pred[] }>;
    expect([moved[1].predictions[0].x, moved[1].predictions[0].parent_id]).toEqual([16, 'image']);
  });
});

describe('flow control and filters', () => {
  const RED_ONLY = {
    type: 'roboflow_core/continue_if@v1',
    name: 'only_red',
    condition_statement: {
      type: 'StatementGroup',
      statements: [
        {
          type: 'BinaryStatement',
          left_operand: {
            type: 'DynamicOperand',
            operand_name: 'p',
            operations: [{ type: 'DetectionsPropertyExtract', property_name: 'class_name' }],
          },
          comparator: { type: '==' },
          right_operand: { type: 'StaticOperand', value: ['red'] },
        },
      ],
    },
    evaluation_parameters: { p: '$steps.crop.predictions' },
    next_steps: ['$steps.cls'],
  };

  it('masks gated crops as null in nested lists', async () => {
    const compiled = compileWorkflow(wf([DET, CROP, RED_ONLY, CLS], [out('cls', '$steps.cls.predictions')]), {
      models: MODELS,
    });
    const r = await runImage(compiled, runtime, await decodeImage(await twoSquares()));
    const cls = r.cls as Array<Pred | null>;
    expect(cls).toHaveLength(2);
    expect((cls[0] as Pred).top).toBe('red');
    expect(cls[1]).toBeNull();
  });

  it('masks a whole branch with an image-level condition: nested outputs become []', async () => {
    const many = {
      type: 'ContinueIf',
      name: 'many',
      condition_statement: {
        type: 'StatementGroup',
        operator: 'and',
        statements: [
          {
            type: 'BinaryStatement',
            left_operand: {
              type: 'DynamicOperand',
              operand_name: 'd',
              operations: [{ type: 'SequenceLength' }],
            },
            comparator: { type: '(Number) >' },
            right_operand: { type: 'StaticOperand', value: 5 },
          },
        ],
      },
      evaluation_parameters: { d: '$steps.det.predictions' },
      next_steps: ['$steps.crop'],
    };
    const compiled = compileWorkflow(
      wf(
        [DET, many, CROP, CLS],
        [
          out('det', '$steps.det.predictions'),
          out('cls', '$steps.cls.predictions'),
          out('crops', '$steps.crop.crops'),
        ],
      ),
      {
        models: MODELS,
      },
    );
    const r = await runImage(compiled, runtime, await decodeImage(await twoSquares()));
    expect((r.det as { predictions: unknown[] }).predictions).toHaveLength(2);
    expect(r.cls).toEqual([]);
    expect(r.crops).toEqual([]);
  });

  it('filters detections with a parameter and copies scalar outputs first', async () => {
    const filter = {
      type: 'roboflow_core/detections_filter@v1',
      name: 'keep',
      predictions: '$steps.det.predictions',
      operations: [
        {
          type: 'DetectionsFilter',
          filter_operation: {
            type: 'StatementGroup',
            statements: [
              {
                type: 'BinaryStatement',
                left_operand: {
                  type: 'DynamicOperand',
                  operations: [{ type: 'ExtractDetectionProperty', property_name: 'class_name' }],
                },
                comparator: { type: 'in (Sequence)' },
                right_operand: { type: 'DynamicOperand', operand_name: 'classes' },
              },
            ],
          },
        },
      ],
      operations_parameters: { classes: '$inputs.classes' },
    };
    const inputs = [IMAGE, { type: 'WorkflowParameter', name: 'classes', default_value: ['red'] }];
    const compiled = compileWorkflow(
      wf(
        [DET, filter],
        [
          out('kept', '$steps.keep.predictions'),
          out('classes', '$inputs.classes'),
          out('all', '$steps.det.*'),
        ],
        inputs,
      ),
      {
        models: MODELS,
      },
    );
    const img = await decodeImage(await twoSquares());
    const r = await runImage(compiled, runtime, img, { classes: ['blue'] });
    expect(Object.keys(r)).toEqual(['classes', 'kept', 'all']);
    expect(r.classes).toEqual(['blue']);
    expect((r.kept as { predictions: Pred[] }).predictions.map((p) => p.class)).toEqual(['blue']);
    const all = r.all as Record<string, unknown>;
    expect(Object.keys(all)).toEqual(['inference_id', 'predictions', 'model_id']);
    expect(all.model_id).toBe('grid/1');
    const r2 = await runImage(compiled, runtime, img);
    expect((r2.kept as { predictions: Pred[] }).predictions.map((p) => p.class)).toEqual(['red']);
  });

  it('grows boxes with Detection Offset: new ids, source as parent, clipped', async () => {
    const offset = {
      type: 'roboflow_core/detection_offset@v1',
      name: 'grow',
      predictions: '$steps.det.predictions',
      offset_width: 10,
      offset_height: 5,
    };
    const compiled = compileWorkflow(
      wf(
        [DET, offset],
        [out('grown', '$steps.grow.predictions', 'own'), out('det', '$steps.det.predictions')],
      ),
      { models: MODELS },
    );
    const r = await runImage(compiled, runtime, await decodeImage(await twoSquares()));
    const [red] = (r.grown as { predictions: Pred[] }).predictions;
    const [src] = (r.det as { predictions: Pred[] }).predictions;
    // red box (0,0,32,32) grows by 5 and 2 px per side, clipped at 0: (0,0,37,34)
    expect([red.x, red.y, red.width, red.height]).toEqual([18.5, 17, 37, 34]);
    expect(red.detection_id).not.toBe(src.detection_id);
    expect(red.parent_id).toBe(src.detection_id);
  });
});

describe('fake runtime (the ModelRuntime seam)', () => {
  /** A runtime that returns a fixed detector output for every image. */
  function fakeRuntime(record: ModelRecord, output: TensorView): ModelRuntime {
    const model: InferenceModel = { record, infer: async (inputs) => inputs.map(() => output) };
    return { model: () => model };
  }

  it('emits a zero-area crop as null and failing steps as WorkflowStepError', async () => {
    // two boxes: a normal one and one with zero width
    const n = 2;
    const data = new Float32Array(7 * n);
    const set = (i: number, v: number[]) => {
      for (const [c, x] of v.entries()) data[c * n + i] = x;
    };
    set(0, [16, 16, 16, 16, 0.9, 0, 0]);
    set(1, [40, 40, 0, 16, 0, 0.8, 0]);
    const rt = fakeRuntime(DET_REC, { data, dims: [1, 7, n] });
    const compiled = compileWorkflow(
      wf([DET, CROP], [out('crops', '$steps.crop.crops'), out('moved', '$steps.crop.predictions')]),
      { models: MODELS },
    );
    const r = await runImage(compiled, rt, await decodeImage(await twoSquares()));
    expect(r.crops).toEqual(['<deducted_image>', null]);
    expect((r.moved as unknown[])[1]).toBeNull();

    const broken: ModelRuntime = {
      model: () => ({ record: DET_REC, infer: async () => Promise.reject(new Error('boom')) }),
    };
    await expect(runImage(compiled, broken, await decodeImage(await twoSquares()))).rejects.toThrow(
      WorkflowStepError,
    );
    await expect(runImage(compiled, broken, await decodeImage(await twoSquares()))).rejects.toThrow(
      'step "det" failed: boom',
    );
  });

  it('only scalar outputs give a single dict of copies', async () => {
    const inputs = [IMAGE, { type: 'WorkflowParameter', name: 'tag', default_value: 'x' }];
    const compiled = compileWorkflow(
      wf([], [out('tag', '$inputs.tag'), out('img', '$inputs.image')], inputs),
      { models: MODELS },
    );
    const r = await runImage(
      compiled,
      fakeRuntime(DET_REC, { data: new Float32Array(0), dims: [1, 7, 0] }),
      await decodeImage(await black()),
      { tag: 'y' },
    );
    expect(r).toEqual({ tag: 'y', img: '<deducted_image>' });
  });
});
