/** Model registry: builders + JSON configs, and writing them to disk. */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLASS_NAMES, DET_INPUT_SIZE, PADDING_VALUE } from './shapes.ts';
import { buildShapesCls, CLS_INPUT_SIZE } from './shapes-cls.ts';
import { buildShapesDet } from './shapes-det.ts';
import { buildYolov8nArch } from './yolov8n.ts';

export interface ModelConfig {
  name: string;
  task: 'object-detection' | 'classification';
  architecture: 'yolov8';
  classNames: string[];
  input: { width: number; height: number };
  resizeMode: 'letterbox' | 'stretch';
  paddingValue: number;
  postProcessing: 'nms' | 'softmax-fused';
  /** Suggested decoding defaults (same shape as the API's model config `defaults`). */
  defaults: { confidence: number; iouThreshold: number; maxDetections: number; classAgnosticNms: boolean };
  description: string;
}

/** The 80 COCO class names, in YOLOv8 order (yolov8n-arch's output rows 4..83). */
// biome-ignore format: keep the list compact
export const COCO_CLASS_NAMES: readonly string[] = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
  'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
  'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
  'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard',
  'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase',
  'scissors', 'teddy bear', 'hair drier', 'toothbrush',
];

export type ModelName = 'shapes-det' | 'yolov8n-arch' | 'shapes-cls';
export const MODEL_NAMES: readonly ModelName[] = ['shapes-det', 'yolov8n-arch', 'shapes-cls'];

export function modelConfig(name: ModelName): ModelConfig {
  switch (name) {
    case 'shapes-det':
      return {
        name,
        task: 'object-detection',
        architecture: 'yolov8',
        classNames: [...CLASS_NAMES],
        input: { width: DET_INPUT_SIZE, height: DET_INPUT_SIZE },
        resizeMode: 'letterbox',
        paddingValue: PADDING_VALUE,
        postProcessing: 'nms',
        defaults: { confidence: 0.4, iouThreshold: 0.3, maxDetections: 300, classAgnosticNms: false },
        description:
          'Synthetic detector of solid red/green/blue squares (12-126 px after letterbox to 640); ' +
          'YOLOv8 output [N, 7, 8400], boxes exact to ~1 px. See packages/models/README.md.',
      };
    case 'yolov8n-arch':
      return {
        name,
        task: 'object-detection',
        architecture: 'yolov8',
        classNames: [...COCO_CLASS_NAMES],
        input: { width: 640, height: 640 },
        resizeMode: 'letterbox',
        paddingValue: PADDING_VALUE,
        postProcessing: 'nms',
        defaults: { confidence: 0.25, iouThreshold: 0.45, maxDetections: 300, classAgnosticNms: false },
        description:
          'YOLOv8n architecture and cost (8.7 GFLOPs, 3.15 M params) with seeded random weights; ' +
          'output [N, 84, 8400]; for throughput benchmarks only (detections are meaningless).',
      };
    case 'shapes-cls':
      return {
        name,
        task: 'classification',
        architecture: 'yolov8',
        classNames: [...CLASS_NAMES],
        input: { width: CLS_INPUT_SIZE, height: CLS_INPUT_SIZE },
        resizeMode: 'stretch',
        paddingValue: PADDING_VALUE,
        postProcessing: 'softmax-fused',
        defaults: { confidence: 0.4, iouThreshold: 0.3, maxDetections: 300, classAgnosticNms: false },
        description:
          'Dominant-colour classifier (red/green/blue); output [N, 3] softmax probabilities ' +
          '(logit = 20 x fraction of matching pixels).',
      };
  }
}

/** Builds the ONNX bytes of a model (deterministic). */
export function buildModel(name: ModelName, opts: { seed?: number } = {}): Uint8Array {
  switch (name) {
    case 'shapes-det':
      return buildShapesDet();
    case 'yolov8n-arch':
      return buildYolov8nArch(opts.seed ?? 0);
    case 'shapes-cls':
      return buildShapesCls();
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface WrittenModel {
  name: ModelName;
  onnxPath: string;
  configPath: string;
  bytes: number;
  sha256: string;
  config: ModelConfig;
}

/** Writes `<name>.onnx` and `<name>.json` for each model into `dir`. */
export async function writeModels(
  dir: string,
  opts: { names?: readonly ModelName[]; seed?: number } = {},
): Promise<WrittenModel[]> {
  await mkdir(dir, { recursive: true });
  const out: WrittenModel[] = [];
  for (const name of opts.names ?? MODEL_NAMES) {
    const bytes = buildModel(name, opts);
    const config = modelConfig(name);
    const onnxPath = join(dir, `${name}.onnx`);
    const configPath = join(dir, `${name}.json`);
    await writeFile(onnxPath, bytes);
    await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
    out.push({ name, onnxPath, configPath, bytes: bytes.length, sha256: sha256(bytes), config });
  }
  return out;
}
