import { DataType, encodeModel, floatTensor, int64Tensor } from './onnx-proto.ts';

/**
 * Tiny ONNX models for tests, with outputs that are known exactly:
 * - {@link constantModel}: ignores its image and always returns the given tensor (decode tests);
 * - {@link gridDetector}: a YOLOv8-layout detector whose boxes are the cells of a grid and whose
 *   class scores are the cell's mean R, G and B (a red square on black is found as class 0);
 * - {@link channelClassifier}: a 3-class classifier with logits `10 × mean(R|G|B)`.
 */

const INPUT = 'images';

/** A model that returns `output` (shape `[1, ...outputDims]` broadcast over the batch) for any image. */
export function constantModel(opts: {
  width: number;
  height: number;
  outputDims: number[];
  output: ArrayLike<number>;
  batch?: number | string;
}): Buffer {
  const { width, height, outputDims, output } = opts;
  const rank = outputDims.length;
  const batch = opts.batch ?? 'batch';
  const reshapeTo = [-1, ...Array(rank - 1).fill(1)];
  return encodeModel({
    name: 'constant',
    inputs: [{ name: INPUT, elemType: DataType.FLOAT, shape: [batch, 3, height, width] }],
    outputs: [{ name: 'output0', elemType: DataType.FLOAT, shape: [batch, ...outputDims.slice(1)] }],
    initializers: [
      floatTensor('const_out', [1, ...outputDims.slice(1)], output),
      floatTensor('zero', [], [0]),
      int64Tensor('reshape_to', [rank], reshapeTo),
    ],
    nodes: [
      {
        opType: 'ReduceMean',
        inputs: [INPUT],
        outputs: ['mean'],
        attributes: { axes: { kind: 'ints', value: [1, 2, 3] }, keepdims: { kind: 'int', value: 0 } },
      },
      { opType: 'Reshape', inputs: ['mean', 'reshape_to'], outputs: ['mean_r'] },
      { opType: 'Mul', inputs: ['mean_r', 'zero'], outputs: ['nothing'] },
      { opType: 'Add', inputs: ['const_out', 'nothing'], outputs: ['output0'] },
    ],
  });
}

/** Grid detector: output `[1, 4 + 3, (H/cell)·(W/cell)]`, classes `['red', 'green', 'blue']`. */
export function gridDetector(opts: { width: number; height: number; cell: number }): Buffer {
  const { width, height, cell } = opts;
  const gw = Math.floor(width / cell);
  const gh = Math.floor(height / cell);
  const n = gw * gh;
  const boxes = new Float32Array(4 * n);
  for (let i = 0; i < gh; i++) {
    for (let j = 0; j < gw; j++) {
      const k = i * gw + j;
      boxes[k] = (j + 0.5) * cell;
      boxes[n + k] = (i + 0.5) * cell;
      boxes[2 * n + k] = cell;
      boxes[3 * n + k] = cell;
    }
  }
  return encodeModel({
    name: 'grid-detector',
    inputs: [{ name: INPUT, elemType: DataType.FLOAT, shape: [1, 3, height, width] }],
    outputs: [{ name: 'output0', elemType: DataType.FLOAT, shape: [1, 7, n] }],
    initializers: [floatTensor('boxes', [1, 4, n], boxes), int64Tensor('flat', [3], [1, 3, -1])],
    nodes: [
      {
        opType: 'AveragePool',
        inputs: [INPUT],
        outputs: ['pooled'],
        attributes: {
          kernel_shape: { kind: 'ints', value: [cell, cell] },
          strides: { kind: 'ints', value: [cell, cell] },
        },
      },
      { opType: 'Reshape', inputs: ['pooled', 'flat'], outputs: ['scores'] },
      {
        opType: 'Concat',
        inputs: ['boxes', 'scores'],
        outputs: ['output0'],
        attributes: { axis: { kind: 'int', value: 1 } },
      },
    ],
  });
}

/** Classifier: output `[B, 3]` logits `10 × channel mean`, classes `['red', 'green', 'blue']`. */
export function channelClassifier(opts: { width: number; height: number }): Buffer {
  return encodeModel({
    name: 'channel-classifier',
    inputs: [{ name: INPUT, elemType: DataType.FLOAT, shape: ['batch', 3, opts.height, opts.width] }],
    outputs: [{ name: 'output0', elemType: DataType.FLOAT, shape: ['batch', 3] }],
    initializers: [floatTensor('ten', [], [10])],
    nodes: [
      {
        opType: 'ReduceMean',
        inputs: [INPUT],
        outputs: ['means'],
        attributes: { axes: { kind: 'ints', value: [2, 3] }, keepdims: { kind: 'int', value: 0 } },
      },
      { opType: 'Mul', inputs: ['means', 'ten'], outputs: ['output0'] },
    ],
  });
}
