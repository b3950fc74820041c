import { describe, expect, it } from 'vitest';
import { WorkflowCompileError } from '../errors.ts';
import { modelRecord } from '../testing/records.ts';
import { compileWorkflow, isStatefulDefinition } from './compiler.ts';

const MODELS = {
  'det/1': modelRecord({ modelId: 'det/1' }),
  'cls/1': modelRecord({
    modelId: 'cls/1',
    task: 'classification',
    postProcessing: 'softmax',
    input: { width: 224, height: 224 },
    resizeMode: 'shortest-edge-center-crop',
  }),
};

const IMAGE = { type: 'WorkflowImage', name: 'image' };
const DET = {
  type: 'roboflow_core/roboflow_object_detection_model@v2',
  name: 'det',
  images: '$inputs.image',
  model_id: 'det/1',
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
  model_id: 'cls/1',
};

function wf(
  steps: unknown[],
  outputs: unknown[] = [],
  inputs: unknown[] = [IMAGE],
  extra: Record<string, unknown> = {},
) {
  return { version: '1.0', inputs, steps, outputs, ...extra };
}

function compileError(def: unknown, parameters?: Record<string, unknown>): WorkflowCompileError {
  try {
    compileWorkflow(def, { models: MODELS, parameters });
  } catch (e) {
    expect(e).toBeInstanceOf(WorkflowCompileError);
    return e as WorkflowCompileError;
  }
  throw new Error('expected a compile error');
}

describe('compileWorkflow', () => {
  it('accepts unknown step fields, as Roboflow does, and warns about each with the closest field', () => {
    const c = compileWorkflow(
      wf([{ ...DET, iou: 0.45, colour: 'red', api_key: 'x', image: undefined }, CROP]),
      { models: MODELS },
    );
    expect(c.warnings).toEqual([
      {
        step: 'det',
        field: 'iou',
        message:
          '"iou" is not a field of roboflow_core/roboflow_object_detection_model@v2; did you mean "iou_threshold"?',
      },
      {
        step: 'det',
        field: 'colour',
        message: '"colour" is not a field of roboflow_core/roboflow_object_detection_model@v2',
      },
    ]);
    // the misspelt field keeps the default
    expect(c.steps.find((s) => s.name === 'det')?.fields.iou_threshold).toEqual({
      kind: 'literal',
      value: 0.3,
    });
    expect(compileWorkflow(wf([DET]), { models: MODELS }).warnings).toEqual([]);
  });

  it('compiles detector → crop → classifier with levels and lineage', () => {
    const c = compileWorkflow(
      wf(
        [CLS, CROP, DET],
        [
          { type: 'JsonField', name: 'det', selector: '$steps.det.predictions' },
          { type: 'JsonField', name: 'cls', selector: '$steps.cls.predictions', coordinates_system: 'own' },
        ],
      ),
      { models: MODELS },
    );
    expect(c.steps.map((s) => s.name)).toEqual(['det', 'crop', 'cls']);
    expect(c.steps.map((s) => s.outputShape.level)).toEqual([1, 2, 2]);
    expect(c.outputs.map((o) => [o.name, o.shape.level, o.coordinatesSystem])).toEqual([
      ['det', 1, 'parent'],
      ['cls', 2, 'own'],
    ]);
    expect(c.pixelInputs).toEqual(['image']);
    expect(c.modelIds.sort()).toEqual(['cls/1', 'det/1']);
    expect(c.stateful).toBe(false);
  });

  it('accepts legacy aliases, field aliases, InferenceImage and a missing version', () => {
    const def = {
      inputs: [{ type: 'InferenceImage', name: 'img' }],
      steps: [
        { type: 'ObjectDetectionModel', name: 'det', image: '$inputs.img', model_id: 'det/1' },
        { type: 'Crop', name: 'crop', image: '$inputs.img', detections: '$steps.det.predictions' },
      ],
      outputs: [{ type: 'JsonField', name: 'crops', selector: '$steps.crop.*' }],
    };
    const c = compileWorkflow(def, { models: MODELS });
    expect(c.version).toBe('1.0');
    expect(c.outputs[0].shape.level).toBe(2);
  });

  it('rejects a cycle, naming the steps', () => {
    const f = (name: string, from: string) => ({
      type: 'DetectionsFilter',
      name,
      predictions: `$steps.${from}.predictions`,
      operations: [],
    });
    const e = compileError(wf([f('a', 'b'), f('b', 'c'), f('c', 'a')]));
    // data flows b → a → c → b (a reads b, c reads a, b reads c)
    expect(e.message).toMatch(/cycle: (a -> c -> b -> a|c -> b -> a -> c|b -> a -> c -> b)/);
  });

  it('rejects unknown block types, listing every one and the supported types', () => {
    const e = compileError(
      wf([
        { type: 'roboflow_core/openai@v2', name: 'gpt' },
        { type: 'roboflow_core/sam@v1', name: 'sam' },
      ]),
    );
    expect(e.message).toContain('"gpt" (roboflow_core/openai@v2)');
    expect(e.message).toContain('"sam" (roboflow_core/sam@v1)');
    expect(e.message).toContain('supported types: roboflow_core/roboflow_object_detection_model@v1');
    expect(e.message).toContain('roboflow_core/dynamic_crop@v1');
  });

  it('names known blocks that are not implemented yet and flags stateful definitions', () => {
    const def = wf([
      DET,
      {
        type: 'roboflow_core/line_counter@v2',
        name: 'count',
        image: '$inputs.image',
        detections: '$steps.det.predictions',
        line_segment: [
          [0, 0],
          [10, 10],
        ],
      },
    ]);
    expect(compileError(def).message).toContain(
      'not implemented on this worker yet: "count" (roboflow_core/line_counter@v2)',
    );
    expect(isStatefulDefinition(def)).toBe(true);
    expect(isStatefulDefinition(wf([DET]))).toBe(false);
  });

  it('rejects a selector to a missing step, naming step and field', () => {
    const e = compileError(wf([{ ...CROP, predictions: '$steps.nope.predictions' }]));
    expect(e.step).toBe('crop');
    expect(e.field).toBe('predictions');
    expect(e.message).toContain('undefined step "nope"');
  });

  it('rejects a selector to a missing output or input', () => {
    expect(compileError(wf([DET, { ...CROP, predictions: '$steps.det.boxes' }])).message).toContain(
      'step "det" has no output "boxes"',
    );
    expect(compileError(wf([{ ...DET, images: '$inputs.picture' }])).message).toContain(
      'undefined input "picture"',
    );
    expect(
      compileError(wf([DET], [{ type: 'JsonField', name: 'o', selector: '$steps.det.nope' }])).message,
    ).toContain('step "o", field "selector"');
  });

  it('rejects an unknown model id and a model of the wrong task', () => {
    const e = compileError(wf([{ ...DET, model_id: 'missing/9' }]));
    expect([e.step, e.field]).toEqual(['det', 'model_id']);
    expect(e.message).toContain('unknown model id "missing/9"');
    expect(compileError(wf([{ ...DET, model_id: 'cls/1' }])).message).toContain(
      'model "cls/1" is a classification model',
    );
  });

  it('resolves model_id parameters when their value is known', () => {
    const inputs = [IMAGE, { type: 'WorkflowParameter', name: 'model', default_value: 'det/1' }];
    const c = compileWorkflow(wf([{ ...DET, model_id: '$inputs.model' }], [], inputs), { models: MODELS });
    expect(c.modelIds).toEqual(['det/1']);
    expect(
      compileError(wf([{ ...DET, model_id: '$inputs.model' }], [], inputs), { model: 'x/1' }).message,
    ).toContain('unknown model id "x/1"');
  });

  it('checks required fields, literals, kinds and the version', () => {
    expect(
      compileError(wf([{ type: 'roboflow_core/dynamic_crop@v1', name: 'crop', images: '$inputs.image' }]))
        .message,
    ).toBe('step "crop", field "predictions": required field is missing');
    expect(compileError(wf([{ ...DET, confidence: 2 }])).message).toContain(
      'field "confidence": must be a number between 0 and 1',
    );
    expect(compileError(wf([DET, { ...CROP, images: '$steps.det.predictions' }])).message).toContain(
      'accepts image',
    );
    expect(compileError(wf([DET], [], [IMAGE], { version: '2.0' })).message).toContain(
      'version 2.0 is not supported',
    );
    expect(compileError(wf([DET, DET])).message).toContain('duplicate step name');
    expect(compileError(wf([{ ...DET, images: '$inputs.image.x' }])).message).toContain('malformed selector');
  });

  it('rejects steps that mix data of different dimensionality', () => {
    const filter = {
      type: 'DetectionsFilter',
      name: 'f',
      predictions: '$steps.det.predictions',
      operations: [],
      operations_parameters: { crops: '$steps.crop.crops' },
    };
    const e = compileError(wf([DET, CROP, filter]));
    expect([e.step, e.field]).toEqual(['f', 'operations_parameters.crops']);
  });

  it('validates query-language structures', () => {
    const bad = {
      type: 'DetectionsFilter',
      name: 'f',
      predictions: '$steps.det.predictions',
      operations: [{ type: 'Teleport' }],
    };
    expect(compileError(wf([DET, bad])).message).toContain('operation "Teleport" is not supported');
    const badCmp = {
      type: 'roboflow_core/continue_if@v1',
      name: 'gate',
      condition_statement: {
        type: 'StatementGroup',
        statements: [
          {
            type: 'BinaryStatement',
            left_operand: { type: 'StaticOperand', value: 1 },
            comparator: { type: '~=' },
            right_operand: { type: 'StaticOperand', value: 1 },
          },
        ],
      },
      next_steps: [],
    };
    expect(compileError(wf([badCmp])).message).toContain('unsupported comparator "~="');
  });

  it('rejects query-language operands that no parameter defines', () => {
    const filter = {
      type: 'DetectionsFilter',
      name: 'f',
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
    };
    const e = compileError(wf([DET, filter]));
    expect([e.step, e.field]).toEqual(['f', 'operations']);
    expect(e.message).toContain('operand "classes" is not defined in "operations_parameters"');
    const inputs = [IMAGE, { type: 'WorkflowParameter', name: 'classes' }];
    expect(() =>
      compileWorkflow(
        wf([DET, { ...filter, operations_parameters: { classes: '$inputs.classes' } }], [], inputs),
        { models: MODELS },
      ),
    ).not.toThrow();
  });

  it('rejects a Continue If below the level of the step it gates', () => {
    const gate = {
      type: 'ContinueIf',
      name: 'gate',
      condition_statement: {
        type: 'StatementGroup',
        statements: [
          {
            type: 'UnaryStatement',
            operand: { type: 'DynamicOperand', operand_name: 'c' },
            operator: { type: 'Exists' },
          },
        ],
      },
      evaluation_parameters: { c: '$steps.crop.crops' },
      next_steps: ['$steps.det'],
    };
    const e = compileError(wf([DET, CROP, gate]));
    // det feeds crop feeds gate gates det: a cycle is found first
    expect(e.message).toMatch(/cycle|cannot gate/);
    const gate2 = { ...gate, next_steps: ['$steps.det2'] };
    const det2 = { ...DET, name: 'det2' };
    expect(compileError(wf([DET, CROP, gate2, det2])).message).toContain('cannot gate "det2"');
  });

  it('requires a JSON object', () => {
    expect(() => compileWorkflow([], { models: MODELS })).toThrow(WorkflowCompileError);
  });
});
