import type { ModelRecord } from '@visionbatch/shared/registry-repo';

/** A registry record for tests (a 640² YOLOv8 detector unless overridden). */
export function modelRecord(over: Partial<ModelRecord> = {}): ModelRecord {
  return {
    modelId: 'test/1',
    task: 'object-detection',
    architecture: 'yolov8',
    classNames: ['red', 'green', 'blue'],
    input: { width: 640, height: 640 },
    resizeMode: 'letterbox',
    paddingValue: 114,
    postProcessing: 'nms',
    defaults: { confidence: 0.4, iouThreshold: 0.3, maxDetections: 300, classAgnosticNms: false },
    weightsKey: 'ws/test/models/test%2F1/weights.onnx',
    weightsSha256: '',
    weightsBytes: 0,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}
