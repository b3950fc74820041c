import { type Detection, Detections } from '../../detections.ts';
import { Canvas, type Rgb } from '../../draw/canvas.ts';
import { colourProblem, PALETTE_NAMES, parseColour, pick, resolvePalette } from '../../draw/colors.ts';
import { drawText, measureText } from '../../draw/font.ts';
import { DecodedImage } from '../../image-decode.ts';
import { clamp } from '../../numbers.ts';
import { type BlockDef, checks, type FieldSpec, Kind } from '../block.ts';
import { WorkflowImage } from '../values.ts';

/**
 * Bounding Box and Label visualisations (spec/workflows.md §2.13): draw on a copy of the image
 * (or on its pixels in place with `copy_image: false`) and output it as `image`. Geometry,
 * colours and label text follow supervision's annotators; the rasterising is ours (§2.13: pixel
 * parity is not a goal), with a built-in bitmap font so no system font is needed.
 */

const DETECTION_KINDS = [
  Kind.objectDetection,
  'instance_segmentation_prediction',
  'keypoint_detection_prediction',
  'rle_instance_segmentation_prediction',
];

export const COLOR_AXES = ['INDEX', 'CLASS', 'TRACK'] as const;

export const LABEL_TEXTS = [
  'Class',
  'Confidence',
  'Class and Confidence',
  'Index',
  'Dimensions',
  'Area',
  'Area (mask)',
  'Area (converted)',
  'Tracker Id',
  'Time In Zone',
] as const;

export const TEXT_POSITIONS = [
  'CENTER',
  'CENTER_LEFT',
  'CENTER_RIGHT',
  'TOP_CENTER',
  'TOP_LEFT',
  'TOP_RIGHT',
  'BOTTOM_LEFT',
  'BOTTOM_CENTER',
  'BOTTOM_RIGHT',
  'CENTER_OF_MASS',
] as const;

const checkColourList = (v: unknown): string | null => {
  if (!Array.isArray(v)) return 'must be a list of colour strings';
  for (const x of v) {
    const p = colourProblem(x);
    if (p) return p;
  }
  return null;
};

const positive = (v: unknown) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : 'must be a positive number';

/** Fields every visualisation has (`base.py`, `base_colorable.py`). */
const COMMON_FIELDS: readonly FieldSpec[] = [
  // canonical name `images` so the compiler decodes an input image up front (readsPixels)
  { name: 'images', aliases: ['image'], role: 'data', required: true, kinds: [Kind.image] },
  { name: 'predictions', role: 'data', required: true, kinds: DETECTION_KINDS },
  { name: 'copy_image', role: 'param', default: true, kinds: [Kind.boolean], check: checks.boolean },
  {
    name: 'color_palette',
    role: 'param',
    default: 'DEFAULT',
    kinds: [Kind.string],
    check: checks.oneOf(PALETTE_NAMES),
  },
  { name: 'palette_size', role: 'param', default: 10, kinds: [Kind.integer], check: checks.positiveInt },
  {
    name: 'custom_colors',
    role: 'param',
    default: [],
    kinds: [Kind.listOfValues],
    check: checkColourList,
  },
  {
    name: 'color_axis',
    role: 'param',
    default: 'CLASS',
    kinds: [Kind.string],
    check: checks.oneOf(COLOR_AXES),
  },
];

/** The drawing target of one element: a copy of the pixels, or the pixels themselves. */
async function target(image: WorkflowImage, copy: boolean): Promise<Canvas> {
  const px = await image.image.rgb();
  return new Canvas(copy ? Buffer.from(px.data) : px.data, px.width, px.height);
}

/** The output image: the drawn pixels with the input's identity (lineage, video metadata). */
function outputImage(from: WorkflowImage, canvas: Canvas): WorkflowImage {
  return new WorkflowImage(
    DecodedImage.fromPixels({ data: canvas.data, width: canvas.width, height: canvas.height }),
    from.lineage,
    from.videoMetadata,
  );
}

function argsOf(args: Record<string, unknown>): {
  image: WorkflowImage;
  dets: Detections;
  copy: boolean;
  colourOf: (d: Detection, i: number) => Rgb;
} {
  const image = args.images;
  if (!(image instanceof WorkflowImage)) throw new Error('"image" must be an image');
  const dets = args.predictions;
  if (!(dets instanceof Detections)) throw new Error('"predictions" must be detections');
  const customs = (args.custom_colors ?? []) as unknown[];
  if (!Array.isArray(customs) || customs.some((c) => typeof c !== 'string'))
    throw new Error('"custom_colors" must be a list of colour strings');
  const palette = resolvePalette(String(args.color_palette), Number(args.palette_size), customs as string[]);
  const axis = String(args.color_axis);
  if (!(COLOR_AXES as readonly string[]).includes(axis))
    throw new Error(`"color_axis" must be one of ${COLOR_AXES.join(', ')}, got "${axis}"`);
  const colourOf = (d: Detection, i: number): Rgb => {
    if (axis === 'INDEX') return pick(palette, i);
    if (axis === 'CLASS') return pick(palette, d.classId);
    if (d.trackerId === undefined)
      throw new Error('color_axis "TRACK" needs tracked detections (no tracker_id; add a tracker step)');
    return pick(palette, d.trackerId);
  };
  return { image, dets, copy: args.copy_image !== false, colourOf };
}

/** Box corners as supervision draws them: coordinates cast to int. */
const corners = (d: Detection) => [Math.trunc(d.x1), Math.trunc(d.y1), Math.trunc(d.x2), Math.trunc(d.y2)];

export const BOUNDING_BOX_VISUALIZATION: BlockDef = {
  title: 'Bounding Box Visualization v1',
  types: ['roboflow_core/bounding_box_visualization@v1', 'BoundingBoxVisualization'],
  fields: [
    ...COMMON_FIELDS,
    { name: 'thickness', role: 'param', default: 2, kinds: [Kind.integer], check: checks.positiveInt },
    { name: 'roundness', role: 'param', default: 0.0, kinds: [Kind.float01], check: checks.float01 },
  ],
  outputs: [{ name: 'image', kinds: [Kind.image] }],
  readsPixels: true,
  async run(_ctx, items) {
    return Promise.all(
      items.map(async (it) => {
        const { image, dets, copy, colourOf } = argsOf(it.args);
        if (dets.length === 0) return { image };
        const thickness = Number(it.args.thickness);
        const roundness = clamp(Number(it.args.roundness), 0, 1);
        const canvas = await target(image, copy);
        dets.items.forEach((d, i) => {
          const [x1, y1, x2, y2] = corners(d);
          const colour = colourOf(d, i);
          // supervision's RoundBoxAnnotator: radius = roundness × half the shorter side
          const radius = (roundness * Math.min(x2 - x1, y2 - y1)) / 2;
          canvas.strokeRoundedRect(x1, y1, x2, y2, thickness, radius, colour);
        });
        return { image: outputImage(image, canvas) };
      }),
    );
  },
};

/**
 * Python's `f"{x:.2f}"`. `toFixed` rounds exact ties up where Python rounds them to even; an
 * exact tie at two decimals needs x to be a multiple of 1/8 (x = k/200 exactly in binary).
 */
function fixed2(x: number): string {
  if (Number.isInteger(x * 8) && !Number.isInteger(x * 100)) {
    const down = Math.trunc(x * 100);
    const even = down % 2 === 0 ? down : down + Math.sign(x);
    return (even / 100).toFixed(2);
  }
  return x.toFixed(2);
}

/** The label of detection `i` for a `text` choice (`label_text.py`, §2.13). */
export function labelText(kind: string, d: Detection, i: number): string {
  const w = d.x2 - d.x1;
  const h = d.y2 - d.y1;
  switch (kind) {
    case 'Class':
      return d.className;
    case 'Confidence':
      return fixed2(d.confidence);
    case 'Class and Confidence':
      return `${d.className} ${fixed2(d.confidence)}`;
    case 'Index':
      return String(i);
    case 'Dimensions':
      return `${Math.trunc(d.x1 + w / 2)}, ${Math.trunc(d.y1 + h / 2)} ${Math.trunc(w)}x${Math.trunc(h)}`;
    // no masks in our subset and no pixel-to-unit conversion data: every area is the box area
    case 'Area':
    case 'Area (mask)':
    case 'Area (converted)':
      return String(Math.trunc(w * h));
    case 'Tracker Id':
      return d.trackerId === undefined ? 'No Tracker ID' : String(d.trackerId);
    case 'Time In Zone':
      // time in zone is not in our subset (§2.16): no detection carries it
      return 'In zone: N/A';
    default:
      throw new Error(`"text" must be one of ${LABEL_TEXTS.join(', ')}, got "${kind}"`);
  }
}

/** The anchor point of a detection box for a text position (supervision `Position`). */
function anchor(position: string, x1: number, y1: number, x2: number, y2: number): [number, number] {
  const cx = Math.trunc((x1 + x2) / 2);
  const cy = Math.trunc((y1 + y2) / 2);
  switch (position) {
    case 'TOP_LEFT':
      return [x1, y1];
    case 'TOP_CENTER':
      return [cx, y1];
    case 'TOP_RIGHT':
      return [x2, y1];
    case 'CENTER_LEFT':
      return [x1, cy];
    case 'CENTER_RIGHT':
      return [x2, cy];
    case 'BOTTOM_LEFT':
      return [x1, y2];
    case 'BOTTOM_CENTER':
      return [cx, y2];
    case 'BOTTOM_RIGHT':
      return [x2, y2];
    case 'CENTER':
    case 'CENTER_OF_MASS': // without masks, the centre of mass is the box centre
      return [cx, cy];
    default:
      throw new Error(`"text_position" must be one of ${TEXT_POSITIONS.join(', ')}, got "${position}"`);
  }
}

/**
 * The label box [x1, y1, x2, y2) of size w×h at anchor (x, y): above the anchor for TOP_*,
 * below for BOTTOM_*, beside it for CENTER_LEFT / CENTER_RIGHT, centred on it for CENTER.
 */
export function labelBox(position: string, x: number, y: number, w: number, h: number): number[] {
  const hw = Math.floor(w / 2);
  const hh = Math.floor(h / 2);
  switch (position) {
    case 'TOP_LEFT':
      return [x, y - h, x + w, y];
    case 'TOP_RIGHT':
      return [x - w, y - h, x, y];
    case 'TOP_CENTER':
      return [x - hw, y - h, x - hw + w, y];
    case 'BOTTOM_LEFT':
      return [x, y, x + w, y + h];
    case 'BOTTOM_RIGHT':
      return [x - w, y, x, y + h];
    case 'BOTTOM_CENTER':
      return [x - hw, y, x - hw + w, y + h];
    case 'CENTER_LEFT':
      return [x - w, y - hh, x, y - hh + h];
    case 'CENTER_RIGHT':
      return [x, y - hh, x + w, y - hh + h];
    default:
      return [x - hw, y - hh, x - hw + w, y - hh + h];
  }
}

/** Automatic text size (v2): `text_scale × min(h, w) / 1080`, clamped to [0.3, 5.0]. */
export function automaticTextScale(textScale: number, width: number, height: number): number {
  return clamp((textScale * Math.min(width, height)) / 1080, 0.3, 5.0);
}

function labelFields(v2: boolean): FieldSpec[] {
  const fields: FieldSpec[] = [
    ...COMMON_FIELDS,
    { name: 'text', role: 'param', default: 'Class', kinds: [Kind.string], check: checks.oneOf(LABEL_TEXTS) },
    {
      name: 'text_position',
      role: 'param',
      default: 'TOP_LEFT',
      kinds: [Kind.string],
      check: checks.oneOf(TEXT_POSITIONS),
    },
    { name: 'text_color', role: 'param', default: 'WHITE', kinds: [Kind.string], check: colourProblem },
    { name: 'text_scale', role: 'param', default: 1.0, kinds: [Kind.float], check: positive },
    { name: 'text_thickness', role: 'param', default: 1, kinds: [Kind.integer], check: checks.positiveInt },
    { name: 'text_padding', role: 'param', default: 10, kinds: [Kind.integer], check: checks.nonNegativeInt },
    { name: 'border_radius', role: 'param', default: 0, kinds: [Kind.integer], check: checks.nonNegativeInt },
  ];
  if (v2)
    fields.push({
      name: 'text_size_mode',
      role: 'param',
      default: 'Manual',
      kinds: [Kind.string],
      check: checks.oneOf(['Manual', 'Automatic']),
    });
  return fields;
}

function labelBlock(title: string, types: string[], v2: boolean): BlockDef {
  return {
    title,
    types,
    fields: labelFields(v2),
    outputs: [{ name: 'image', kinds: [Kind.image] }],
    readsPixels: true,
    async run(_ctx, items) {
      return Promise.all(
        items.map(async (it) => {
          const a = it.args;
          const { image, dets, copy, colourOf } = argsOf(a);
          // v1 returns the image untouched; v2 would draw nothing either
          if (dets.length === 0) return { image };
          const textKind = String(a.text);
          const position = String(a.text_position);
          const textColour = parseColour(String(a.text_color));
          let scale = Number(a.text_scale);
          if (!(scale > 0)) throw new Error('"text_scale" must be a positive number');
          if (v2 && a.text_size_mode === 'Automatic')
            scale = automaticTextScale(scale, image.width, image.height);
          const thickness = Math.max(1, Math.round(Number(a.text_thickness)));
          const padding = Math.max(0, Math.round(Number(a.text_padding)));
          const radius = Math.max(0, Number(a.border_radius));
          const canvas = await target(image, copy);
          dets.items.forEach((d, i) => {
            const text = labelText(textKind, d, i);
            const m = measureText(text, scale, thickness);
            const [x1, y1, x2, y2] = corners(d);
            const [ax, ay] = anchor(position, x1, y1, x2, y2);
            const [bx1, by1, bx2, by2] = labelBox(
              position,
              ax,
              ay,
              m.width + 2 * padding,
              m.height + 2 * padding,
            );
            canvas.fillRoundedRect(bx1, by1, bx2, by2, radius, colourOf(d, i));
            drawText(canvas, text, bx1 + padding, by1 + padding, scale, thickness, textColour);
          });
          return { image: outputImage(image, canvas) };
        }),
      );
    },
  };
}

export const LABEL_VISUALIZATION_V1 = labelBlock(
  'Label Visualization v1',
  ['roboflow_core/label_visualization@v1', 'LabelVisualization'],
  false,
);
export const LABEL_VISUALIZATION_V2 = labelBlock(
  'Label Visualization v2',
  ['roboflow_core/label_visualization@v2'],
  true,
);

/** The visualisation blocks, for the registry. */
export const VISUALIZATION_BLOCKS: readonly BlockDef[] = [
  BOUNDING_BOX_VISUALIZATION,
  LABEL_VISUALIZATION_V1,
  LABEL_VISUALIZATION_V2,
];
