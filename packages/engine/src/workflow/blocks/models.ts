import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import {
  type ClassifierPostProcessing,
  multiLabelPrediction,
  singleLabelPrediction,
  toProbabilities,
} from '../../classify.ts';
import { preprocess } from '../../preprocess.ts';
import { decodeNmsFused, decodeYoloV8, mapBoxesToSource, toDetections } from '../../yolo-decode.ts';
import {
  type BlockContext,
  type BlockDef,
  checks,
  type FieldSpec,
  Kind,
  type OutputSpec,
  type StepItem,
} from '../block.ts';
import type { WorkflowImage } from '../values.ts';

/**
 * Model blocks (spec §2.1–2.4): object detection, single-label and multi-label classification,
 * versions 1–3 with their aliases, bound to our model registry (§5.4).
 */

/** Optional registry fields `confidence_mode: best` reads (§5.4); absent from older records. */
interface ConfidenceExtras {
  recommendedConfidence?: number | null;
  perClassConfidence?: Record<string, number> | null;
}

type Family = 'object-detection' | 'classification' | 'multi-label-classification';

const ACTIVE_LEARNING_FIELDS: FieldSpec[] = [
  {
    name: 'disable_active_learning',
    role: 'param',
    default: true,
    kinds: [Kind.boolean],
    check: checks.boolean,
  },
  {
    name: 'active_learning_target_dataset',
    role: 'param',
    default: null,
    kinds: [Kind.string, 'roboflow_project'],
    check: checks.optionalString,
  },
];

function fields(family: Family, version: number): FieldSpec[] {
  const f: FieldSpec[] = [
    { name: 'images', aliases: ['image'], role: 'data', required: true, kinds: [Kind.image] },
    {
      name: 'model_id',
      role: 'param',
      required: true,
      kinds: [Kind.modelId, Kind.string],
      check: checks.string,
    },
  ];
  if (version < 3) {
    f.push({ name: 'confidence', role: 'param', default: 0.4, kinds: [Kind.float01], check: checks.float01 });
  } else {
    const modes = family === 'classification' ? ['default', 'custom'] : ['best', 'default', 'custom'];
    f.push(
      {
        name: 'confidence_mode',
        role: 'param',
        default: family === 'classification' ? 'default' : 'best',
        kinds: [Kind.string],
        check: checks.oneOf(modes),
      },
      {
        name: 'custom_confidence',
        role: 'param',
        default: 0.4,
        kinds: [Kind.float01],
        check: checks.float01,
      },
    );
  }
  if (family === 'object-detection') {
    f.push(
      {
        name: 'class_filter',
        role: 'param',
        default: null,
        kinds: [Kind.listOfValues],
        check: checks.stringList,
      },
      { name: 'iou_threshold', role: 'param', default: 0.3, kinds: [Kind.float01], check: checks.float01 },
      {
        name: 'max_detections',
        role: 'param',
        default: 300,
        kinds: [Kind.integer],
        check: checks.positiveInt,
      },
      {
        name: 'class_agnostic_nms',
        role: 'param',
        default: false,
        kinds: [Kind.boolean],
        check: checks.boolean,
      },
      // accepted for compatibility; has no effect in either reference implementation (§2.1)
      {
        name: 'max_candidates',
        role: 'param',
        default: 3000,
        kinds: [Kind.integer],
        check: checks.positiveInt,
      },
    );
  }
  return [...f, ...ACTIVE_LEARNING_FIELDS];
}

function outputs(family: Family, version: number): OutputSpec[] {
  const predictions: OutputSpec = {
    name: 'predictions',
    kinds: [family === 'object-detection' ? Kind.objectDetection : Kind.classification],
  };
  if (version === 1) {
    const inferenceId: OutputSpec = { name: 'inference_id', kinds: [Kind.string] };
    return family === 'object-detection' ? [inferenceId, predictions] : [predictions, inferenceId];
  }
  return [
    { name: 'inference_id', kinds: [Kind.inferenceId] },
    predictions,
    { name: 'model_id', kinds: [Kind.modelId] },
  ];
}

/** Thresholds of one call: global and per class id (for `confidence_mode: best`). */
interface Thresholds {
  confidence: number;
  perClass: Array<number | undefined> | null;
}

function thresholds(
  family: Family,
  version: number,
  args: Record<string, unknown>,
  record: ModelRecord,
): Thresholds {
  if (version < 3) return { confidence: args.confidence as number, perClass: null };
  const mode = args.confidence_mode as string;
  if (mode === 'custom') return { confidence: args.custom_confidence as number, perClass: null };
  // single-label classifiers use 0.5 for `default`, as the reference adapter does (§2.3)
  const fallback = family === 'classification' ? 0.5 : record.defaults.confidence;
  if (mode === 'default') return { confidence: fallback, perClass: null };
  const extras = record as ModelRecord & ConfidenceExtras;
  const global = extras.recommendedConfidence ?? fallback;
  const perClassMap = extras.perClassConfidence;
  const perClass = perClassMap ? record.classNames.map((n) => perClassMap[n]) : null;
  return { confidence: global, perClass };
}

function groupByModel(items: readonly StepItem[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  items.forEach((it, i) => {
    const id = it.args.model_id as string;
    const g = groups.get(id) ?? [];
    g.push(i);
    groups.set(id, g);
  });
  return groups;
}

function modelRecord(ctx: BlockContext, modelId: string, family: Family): ModelRecord {
  const model = ctx.runtime.model(modelId);
  if (model.record.task !== family)
    throw new Error(`model "${modelId}" is a ${model.record.task} model, not ${family}`);
  return model.record;
}

function makeBlock(family: Family, version: number, types: string[], title: string): BlockDef {
  const outs = outputs(family, version);
  return {
    title: `${title} v${version}`,
    types,
    fields: fields(family, version),
    outputs: outs,
    modelTask: family,
    async run(ctx, items) {
      const results: unknown[] = new Array(items.length);
      for (const [modelId, idxs] of groupByModel(items)) {
        const record = modelRecord(ctx, modelId, family);
        const model = ctx.runtime.model(modelId);
        const spec = {
          width: record.input.width,
          height: record.input.height,
          mode: record.resizeMode,
          paddingValue: record.paddingValue,
        };
        const images = idxs.map((i) => items[i].args.images as WorkflowImage);
        const prepared = await Promise.all(images.map((im) => preprocess(im.image, spec)));
        const t0 = performance.now();
        const outputsPerImage = await model.infer(prepared.map((p) => p.tensor));
        const time = (performance.now() - t0) / 1000;
        // one inference id per model call, shared by the images of that call (§2.1)
        const inferenceId = crypto.randomUUID();
        idxs.forEach((itemIndex, k) => {
          const args = items[itemIndex].args;
          const image = images[k];
          const th = thresholds(family, version, args, record);
          let predictions: unknown;
          if (family === 'object-detection') {
            const opts = {
              confidence: th.confidence,
              classConfidence: th.perClass,
              iouThreshold: args.iou_threshold as number,
              maxDetections: args.max_detections as number,
              classAgnosticNms: args.class_agnostic_nms as boolean,
            };
            const boxes =
              record.postProcessing === 'nms-fused'
                ? decodeNmsFused(outputsPerImage[k], 0, opts)
                : decodeYoloV8(outputsPerImage[k], 0, opts);
            const mapped = mapBoxesToSource(boxes, prepared[k].geometry);
            const dets = toDetections(
              mapped,
              record.classNames,
              { width: image.width, height: image.height },
              image.lineage,
              args.class_filter as string[] | null,
            );
            for (const d of dets.items) ctx.countDetections(d.className, 1);
            predictions = dets;
          } else {
            const probs = toProbabilities(
              outputsPerImage[k].data,
              record.postProcessing as ClassifierPostProcessing,
            );
            const meta = {
              inferenceId,
              time,
              image: { width: image.width, height: image.height },
              parentId: image.lineage.parent.id,
              rootParentId: image.lineage.root.id,
            };
            predictions =
              family === 'classification'
                ? singleLabelPrediction(probs, record.classNames, th.confidence, meta)
                : multiLabelPrediction(probs, record.classNames, th.confidence, meta);
          }
          const values: Record<string, unknown> = {
            inference_id: inferenceId,
            predictions,
            model_id: modelId,
          };
          const out: Record<string, unknown> = {};
          for (const o of outs) out[o.name] = values[o.name];
          results[itemIndex] = out;
        });
      }
      return results;
    },
  };
}

function family(family: Family, name: string, aliases: string[], title: string): BlockDef[] {
  return [1, 2, 3].map((v) =>
    makeBlock(family, v, [`roboflow_core/${name}@v${v}`, ...(v === 1 ? aliases : [])], title),
  );
}

/** Object detection, single-label and multi-label classification blocks, v1–v3. */
export const MODEL_BLOCKS: BlockDef[] = [
  ...family(
    'object-detection',
    'roboflow_object_detection_model',
    ['RoboflowObjectDetectionModel', 'ObjectDetectionModel'],
    'Object Detection Model',
  ),
  ...family(
    'classification',
    'roboflow_classification_model',
    ['RoboflowClassificationModel', 'ClassificationModel'],
    'Single-Label Classification Model',
  ),
  ...family(
    'multi-label-classification',
    'roboflow_multi_label_classification_model',
    ['RoboflowMultiLabelClassificationModel', 'MultiLabelClassificationModel'],
    'Multi-Label Classification Model',
  ),
];
