import { type Detection, Detections } from '../../detections.ts';
import { clamp, roundHalfEven } from '../../numbers.ts';
import { type BlockDef, checks, Kind } from '../block.ts';
import { applyOperations, evaluateStatement } from '../uql.ts';
import type { WorkflowImage } from '../values.ts';

/**
 * Transformation and flow-control blocks of the subset: Dynamic Crop (§2.7), Detections Filter
 * (§2.9), Detections Transformation (§2.10), Property Definition (§2.11), Detection Offset
 * (§2.12), Continue If (§2.17).
 */

const DETECTION_KINDS = [
  Kind.objectDetection,
  'instance_segmentation_prediction',
  'keypoint_detection_prediction',
];

function detectionsArg(v: unknown, field: string): Detections {
  if (!(v instanceof Detections)) throw new Error(`"${field}" must be detections`);
  return v;
}

function checkColour(v: unknown): string | null {
  if (Array.isArray(v) && v.length === 3 && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 255))
    return null;
  if (
    typeof v === 'string' &&
    (/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(v) ||
      /^\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)$/.test(v))
  )
    return null;
  return 'must be "#RRGGBB", "#RGB", "(r, g, b)" or [r, g, b]';
}

export const DYNAMIC_CROP: BlockDef = {
  title: 'Dynamic Crop v1',
  types: ['roboflow_core/dynamic_crop@v1', 'DynamicCrop', 'Crop'],
  fields: [
    { name: 'images', aliases: ['image'], role: 'data', required: true, kinds: [Kind.image] },
    { name: 'predictions', aliases: ['detections'], role: 'data', required: true, kinds: DETECTION_KINDS },
    // only meaningful with instance masks (segmentation is not supported yet): accepted and checked
    { name: 'mask_opacity', role: 'param', default: 0.0, kinds: [Kind.float01], check: checks.float01 },
    {
      name: 'background_color',
      role: 'param',
      default: [0, 0, 0],
      kinds: [Kind.string, 'rgb_color'],
      check: checkColour,
    },
  ],
  outputs: [
    { name: 'crops', kinds: [Kind.image] },
    { name: 'predictions', kinds: DETECTION_KINDS },
  ],
  dimensionalityOffset: 1,
  readsPixels: true,
  async run(_ctx, items) {
    return Promise.all(
      items.map(async (it) => {
        const image = it.args.images as WorkflowImage;
        const dets = detectionsArg(it.args.predictions, 'predictions');
        const crops: Array<Record<string, unknown>> = [];
        for (const d of dets.items) {
          if (!d.detectionId) throw new Error('a detection without detection_id cannot be cropped');
          // numpy rounds half to even; corners are clamped to the image like slicing does
          const x1 = clamp(roundHalfEven(d.x1), 0, image.width);
          const y1 = clamp(roundHalfEven(d.y1), 0, image.height);
          const x2 = clamp(roundHalfEven(d.x2), 0, image.width);
          const y2 = clamp(roundHalfEven(d.y2), 0, image.height);
          if (x2 <= x1 || y2 <= y1) {
            crops.push({ crops: null, predictions: null });
            continue;
          }
          const crop = await image.crop(x1, y1, x2, y2, d.detectionId);
          // the source detection moved into the crop's frame, metadata unchanged (§3.6 quirk)
          const moved: Detection = { ...d, x1: d.x1 - x1, y1: d.y1 - y1, x2: d.x2 - x1, y2: d.y2 - y1 };
          crops.push({ crops: crop, predictions: dets.with([moved]) });
        }
        return crops;
      }),
    );
  },
};

function chainBlock(title: string, types: string[]): BlockDef {
  return {
    title,
    types,
    fields: [
      { name: 'predictions', role: 'data', required: true, kinds: DETECTION_KINDS },
      { name: 'operations', role: 'operations', required: true },
      { name: 'operations_parameters', role: 'selector-map', default: {} },
    ],
    outputs: [{ name: 'predictions', kinds: DETECTION_KINDS }],
    async run(_ctx, items) {
      return items.map((it) => {
        const params = { ...(it.args.operations_parameters as Record<string, unknown>) };
        const out = applyOperations(
          detectionsArg(it.args.predictions, 'predictions'),
          it.args.operations as Array<Record<string, unknown>>,
          params,
        );
        if (!(out instanceof Detections)) throw new Error('the operations must return detections');
        return { predictions: out };
      });
    },
  };
}

export const DETECTIONS_FILTER = chainBlock('Detections Filter v1', [
  'roboflow_core/detections_filter@v1',
  'DetectionsFilter',
]);
export const DETECTIONS_TRANSFORMATION = chainBlock('Detections Transformation v1', [
  'roboflow_core/detections_transformation@v1',
  'DetectionsTransformation',
]);

export const PROPERTY_DEFINITION: BlockDef = {
  title: 'Property Definition v1',
  types: ['roboflow_core/property_definition@v1', 'PropertyDefinition', 'PropertyExtraction'],
  fields: [
    { name: 'data', role: 'data', required: true, kinds: [Kind.wildcard] },
    { name: 'operations', role: 'operations', required: true },
  ],
  outputs: [{ name: 'output', kinds: [Kind.wildcard] }],
  async run(_ctx, items) {
    return items.map((it) => ({
      output: applyOperations(it.args.data, it.args.operations as Array<Record<string, unknown>>, {}),
    }));
  },
};

export const DETECTION_OFFSET: BlockDef = {
  title: 'Detection Offset v1',
  types: ['roboflow_core/detection_offset@v1', 'DetectionOffset'],
  fields: [
    { name: 'predictions', role: 'data', required: true, kinds: DETECTION_KINDS },
    {
      name: 'offset_width',
      aliases: ['offset_x'],
      role: 'param',
      required: true,
      kinds: [Kind.integer],
      check: checks.positiveInt,
    },
    {
      name: 'offset_height',
      aliases: ['offset_y'],
      role: 'param',
      required: true,
      kinds: [Kind.integer],
      check: checks.positiveInt,
    },
    {
      name: 'units',
      role: 'param',
      default: 'Pixels',
      kinds: [Kind.string],
      check: checks.oneOf(['Pixels', 'Percent (%)']),
    },
  ],
  outputs: [{ name: 'predictions', kinds: DETECTION_KINDS }],
  async run(_ctx, items) {
    return items.map((it) => {
      const dets = detectionsArg(it.args.predictions, 'predictions');
      const ow = it.args.offset_width as number;
      const oh = it.args.offset_height as number;
      const percent = it.args.units === 'Percent (%)';
      const { width: W, height: H } = dets.image;
      const moved = dets.items.map((d): Detection => {
        const dx = percent ? Math.trunc(((d.x2 - d.x1) * ow) / 200) : Math.floor(ow / 2);
        const dy = percent ? Math.trunc(((d.y2 - d.y1) * oh) / 200) : Math.floor(oh / 2);
        return {
          ...d,
          x1: clamp(d.x1 - dx, 0, W),
          y1: clamp(d.y1 - dy, 0, H),
          x2: clamp(d.x2 + dx, 0, W),
          y2: clamp(d.y2 + dy, 0, H),
          // a new id, and the source detection becomes the parent (reference behaviour, §2.12)
          detectionId: crypto.randomUUID(),
          parent: { ...d.parent, id: d.detectionId },
        };
      });
      return { predictions: dets.with(moved) };
    });
  },
};

export const CONTINUE_IF: BlockDef = {
  title: 'Continue If v1',
  types: ['roboflow_core/continue_if@v1', 'ContinueIf'],
  fields: [
    { name: 'condition_statement', role: 'statement', required: true },
    { name: 'evaluation_parameters', role: 'selector-map', default: {} },
    { name: 'next_steps', role: 'steps', required: true },
    // per-instance wall-clock memory of the last "true"; every image run has fresh state (§5.5),
    // so in batch jobs it never extends a branch
    {
      name: 'stop_delay',
      role: 'param',
      default: 0,
      kinds: [Kind.float, Kind.integer],
      check: checks.number,
    },
  ],
  outputs: [],
  flowControl: true,
  async run(_ctx, items) {
    return items.map((it) => {
      if ((it.args.next_steps as string[]).length === 0) return false;
      return evaluateStatement(it.args.condition_statement, {
        ...(it.args.evaluation_parameters as Record<string, unknown>),
      });
    });
  },
};
