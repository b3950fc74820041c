export * from './datasets.ts';
export * from './graph.ts';
export * from './models.ts';
export * from './onnx.ts';
export { Rng } from './prng.ts';
export * from './shapes.ts';
export { buildShapesCls, buildShapesClsGraph, CLS_INPUT_SIZE, CLS_LOGIT_SCALE } from './shapes-cls.ts';
export { addColourMatch, buildShapesDet, buildShapesDetGraph } from './shapes-det.ts';
export { detectionWorkflow } from './workflows.ts';
export {
  buildYolov8nArch,
  buildYolov8nArchGraph,
  type Yolov8nBuild,
  type Yolov8nOptions,
} from './yolov8n.ts';
