import {
  buildModel,
  COCO_CLASS_NAMES,
  DataType,
  encodeModel,
  type ModelProtoJson,
} from '@visionbatch/models';
import { describe, expect, it } from 'vitest';
import { modelFactsOf, OnnxReadError, parseUltralyticsNames, readOnnxModelInfo } from './model-metadata.ts';
import { parsePythonLiteral } from './python-literal.ts';

/** A ModelProto with only the graph's interface (enough to read; not meant to run). */
function interfaceOnly(o: {
  input: (number | string)[];
  output: (number | string)[];
  metadata?: Record<string, string>;
  initializerInput?: boolean;
}): Uint8Array {
  const vi = (name: string, dims: (number | string)[]) => ({
    name,
    type: {
      tensor_type: {
        elem_type: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  });
  const model: ModelProtoJson = {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: [],
      // Old exports list initializers among the graph inputs; the model's input is the other one.
      initializer: o.initializerInput
        ? [{ name: 'w', dims: [1], data_type: DataType.FLOAT, raw_data: new Uint8Array(4) }]
        : [],
      input: [...(o.initializerInput ? [vi('w', [1])] : []), vi('images', o.input)],
      output: [vi('output0', o.output)],
    },
    ...(o.metadata
      ? { metadata_props: Object.entries(o.metadata).map(([key, value]) => ({ key, value })) }
      : {}),
  };
  return encodeModel(model);
}

describe('readOnnxModelInfo', () => {
  it('reads the metadata and the graph interface of an Ultralytics-style export', () => {
    const info = readOnnxModelInfo(buildModel('yolov8n-arch', { ultralytics: true }));
    expect(info.input).toEqual({ name: 'images', dims: ['N', 3, 640, 640] });
    expect(info.output).toEqual({ name: 'output0', dims: ['N', 84, 8400] });
    expect(info.metadata).toMatchObject({ task: 'detect', imgsz: '[640, 640]', stride: '32', batch: '1' });
    expect(parseUltralyticsNames(info.metadata.names)).toEqual(COCO_CLASS_NAMES);
  });

  it('skips graph inputs that are initializers', () => {
    const info = readOnnxModelInfo(
      interfaceOnly({ input: [1, 3, 32, 32], output: [1, 7, 10], initializerInput: true }),
    );
    expect(info.input?.name).toBe('images');
  });

  it('refuses bytes that are not a model', () => {
    expect(() => readOnnxModelInfo(new TextEncoder().encode('not a model at all'))).toThrow(OnnxReadError);
    expect(() => readOnnxModelInfo(new Uint8Array())).toThrow(/no graph/);
  });
});

describe('modelFactsOf', () => {
  it('takes task, names and size from Ultralytics metadata and the layout from the graph', () => {
    const facts = modelFactsOf(readOnnxModelInfo(buildModel('shapes-det', { ultralytics: true })));
    expect(facts).toMatchObject({
      task: 'object-detection',
      classNames: ['red', 'green', 'blue'],
      input: { width: 640, height: 640 },
      resizeMode: 'letterbox',
      paddingValue: 114,
      postProcessing: 'nms',
      architecture: 'yolov8',
      author: 'Ultralytics',
      outputClasses: 3,
    });
    expect(facts.sources).toMatchObject({
      task: 'metadata',
      classNames: 'metadata',
      input: 'graph',
      postProcessing: 'graph',
    });
    expect(facts.problems).toEqual({});
  });

  it('infers a detector from the graph alone, without class names', () => {
    const facts = modelFactsOf(readOnnxModelInfo(buildModel('shapes-det')));
    expect(facts.task).toBe('object-detection');
    expect(facts.sources.task).toBe('graph');
    expect(facts.classNames).toBeUndefined();
    expect(facts.outputClasses).toBe(3);
    expect(facts.outputDims).toEqual(['N', 7, 8400]);
  });

  it('reads an Ultralytics classifier: softmax in the graph, shortest-edge resize and centre crop', () => {
    const facts = modelFactsOf(readOnnxModelInfo(buildModel('shapes-cls', { ultralytics: true })));
    expect(facts).toMatchObject({
      task: 'classification',
      classNames: ['red', 'green', 'blue'],
      input: { width: 224, height: 224 },
      postProcessing: 'softmax-fused',
      resizeMode: 'shortest-edge-center-crop',
    });
  });

  it('uses imgsz when the graph input is dynamic, and recognises an NMS-fused output', () => {
    const facts = modelFactsOf(
      readOnnxModelInfo(
        interfaceOnly({
          input: ['batch', 3, 'height', 'width'],
          output: ['batch', 300, 6],
          metadata: {
            task: 'detect',
            imgsz: '[480, 640]',
            names: "{0: 'a', 1: 'b'}",
            description: 'Ultralytics YOLO11n model',
          },
        }),
      ),
    );
    expect(facts.input).toEqual({ width: 640, height: 480 });
    expect(facts.sources.input).toBe('metadata');
    expect(facts.postProcessing).toBe('nms-fused');
    expect(facts.architecture).toBe('yolo11');
  });

  it('reports what it cannot use instead of guessing', () => {
    const facts = modelFactsOf(
      readOnnxModelInfo(
        interfaceOnly({
          input: [1, 3, 640, 640],
          output: [1, 116, 8400],
          metadata: { task: 'segment', names: '{0: person' },
        }),
      ),
    );
    expect(facts.task).toBeUndefined();
    expect(facts.problems.task).toMatch(
      /"segment", which is not supported yet \(supported: detect, classify\)/,
    );
    expect(facts.classNames).toBeUndefined();
    expect(facts.problems.classNames).toMatch(/"names" metadata cannot be read/);
  });
});

describe('Python literals of Ultralytics metadata', () => {
  it('reads class-name dicts with both quote styles and escapes', () => {
    expect(parseUltralyticsNames(`{0: 'person', 1: "driver's seat", 2: 'a\\\\b', 3: 'caf\\xe9'}`)).toEqual([
      'person',
      "driver's seat",
      'a\\b',
      'café',
    ]);
    expect(parseUltralyticsNames("['x', 'y']")).toEqual(['x', 'y']);
    expect(() => parseUltralyticsNames("{0: 'a', 5: 'b'}")).toThrow(/indices must be 0..1/);
  });

  it('reads scalars, lists and tuples and refuses trailing text', () => {
    expect(parsePythonLiteral("{'half': False, 'int8': True, 'x': None, 'f': 0.5, 't': (1, -2)}")).toEqual(
      new Map<unknown, unknown>([
        ['half', false],
        ['int8', true],
        ['x', null],
        ['f', 0.5],
        ['t', [1, -2]],
      ]),
    );
    expect(() => parsePythonLiteral('[1, 2] extra')).toThrow(/unexpected text/);
    expect(() => parsePythonLiteral("'open")).toThrow(/unterminated/);
  });
});
