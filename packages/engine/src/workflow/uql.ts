import { type Detection, Detections } from '../detections.ts';
import { WorkflowImage } from './values.ts';

/**
 * The Workflows query language subset (spec/workflows.md §2.8): operation chains, operands,
 * binary/unary statements and statement groups. {@link checkOperations} and {@link checkStatement}
 * validate definitions at compile time (throwing {@link UqlError} with a path); {@link applyOperations}
 * and {@link evaluateStatement} run them. Any exception while running is a step failure.
 */

export class UqlError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'UqlError';
  }
}

type Obj = Record<string, unknown>;
type Params = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Detection properties

const DETECTION_PROPERTIES: Record<string, (d: Detection, all: Detections) => unknown> = {
  confidence: (d) => d.confidence,
  class_name: (d) => d.className,
  class_id: (d) => d.classId,
  x_min: (d) => d.x1,
  y_min: (d) => d.y1,
  x_max: (d) => d.x2,
  y_max: (d) => d.y2,
  size: (d) => (d.x2 - d.x1) * (d.y2 - d.y1),
  center: (d) => [(d.x1 + d.x2) / 2, (d.y1 + d.y2) / 2],
  top_left: (d) => [d.x1, d.y1],
  top_right: (d) => [d.x2, d.y1],
  bottom_left: (d) => [d.x1, d.y2],
  bottom_right: (d) => [d.x2, d.y2],
  tracker_id: (d) => d.trackerId ?? null,
  dimensions: (_d, all) => [all.image.height, all.image.width],
  prediction_type: (d) => d.predictionType,
};

/** Detection properties this implementation can extract. */
export const SUPPORTED_DETECTION_PROPERTIES = Object.keys(DETECTION_PROPERTIES);

const CLASSIFICATION_PROPERTIES = [
  'top_class',
  'top_class_confidence',
  'top_class_confidence_single',
  'all_classes',
  'all_confidences',
];

function classificationProperty(value: unknown, property: string): unknown {
  if (!isObj(value)) throw new Error('ClassificationPropertyExtract expects a classification prediction');
  const preds = value.predictions;
  if (Array.isArray(preds)) {
    const top = value.top;
    const conf = value.confidence;
    switch (property) {
      case 'top_class':
        return top;
      case 'top_class_confidence':
      case 'top_class_confidence_single':
        return conf;
      case 'all_classes':
        return preds.map((p) => (p as Obj).class);
      case 'all_confidences':
        return preds.map((p) => (p as Obj).confidence);
    }
  } else if (isObj(preds)) {
    const predicted = (value.predicted_classes as string[]) ?? [];
    const confs = predicted.map((c) => (preds[c] as Obj).confidence as number);
    const byId = Object.entries(preds).sort(
      (a, b) => ((a[1] as Obj).class_id as number) - ((b[1] as Obj).class_id as number),
    );
    switch (property) {
      case 'top_class':
        return predicted;
      case 'top_class_confidence':
        return confs;
      case 'top_class_confidence_single':
        return confs.length > 0 ? Math.max(...confs) : 0.0;
      case 'all_classes':
        return byId.map(([name]) => name);
      case 'all_confidences':
        return byId.map(([, v]) => (v as Obj).confidence);
    }
  }
  throw new Error(`cannot extract "${property}" from this classification prediction`);
}

// ---------------------------------------------------------------------------------------------
// Operations

interface OpDef {
  /** required/optional parameters and their checks; returns an error message or null */
  check: (op: Obj) => string | null;
  run: (value: unknown, op: Obj, params: Params) => unknown;
}

const oneOf = (field: string, allowed: readonly string[], dflt?: string) => (op: Obj) => {
  const v = op[field] ?? dflt;
  if (typeof v !== 'string' || !allowed.includes(v)) return `"${field}" must be one of ${allowed.join(', ')}`;
  return null;
};

const numberField =
  (field: string, optional = false) =>
  (op: Obj) => {
    const v = op[field];
    if (v === undefined && optional) return null;
    return typeof v === 'number' && Number.isFinite(v) ? null : `"${field}" must be a number`;
  };

const none = () => null;

function asDetections(v: unknown, op: string): Detections {
  if (!(v instanceof Detections)) throw new Error(`${op} expects detections`);
  return v;
}

function asSingleDetection(v: unknown, op: string): { d: Detection; all: Detections } {
  if (v instanceof Detections) {
    if (v.length !== 1) throw new Error(`${op} expects one detection, got ${v.length}`);
    return { d: v.items[0], all: v };
  }
  throw new Error(`${op} expects a detection`);
}

function length(v: unknown): number {
  if (v instanceof Detections) return v.length;
  if (Array.isArray(v) || typeof v === 'string') return v.length;
  if (isObj(v)) return Object.keys(v).length;
  throw new Error(`SequenceLength expects a sequence, got ${typeof v}`);
}

function sortKey(mode: string): (d: Detection) => number {
  switch (mode) {
    case 'confidence':
      return (d) => d.confidence;
    case 'x_min':
      return (d) => d.x1;
    case 'x_max':
      return (d) => d.x2;
    case 'y_min':
      return (d) => d.y1;
    case 'y_max':
      return (d) => d.y2;
    case 'size':
      return (d) => (d.x2 - d.x1) * (d.y2 - d.y1);
    case 'center_x':
      return (d) => (d.x1 + d.x2) / 2;
    default:
      return (d) => (d.y1 + d.y2) / 2;
  }
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new Error(`cannot convert ${JSON.stringify(v)} to a number`);
}

function pythonStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

const OPERATIONS: Record<string, OpDef> = {
  DetectionsPropertyExtract: {
    check: oneOf('property_name', SUPPORTED_DETECTION_PROPERTIES),
    run: (v, op) => {
      const d = asDetections(v, 'DetectionsPropertyExtract');
      const f = DETECTION_PROPERTIES[op.property_name as string];
      return d.items.map((x) => f(x, d));
    },
  },
  ExtractDetectionProperty: {
    check: oneOf('property_name', SUPPORTED_DETECTION_PROPERTIES),
    run: (v, op) => {
      const { d, all } = asSingleDetection(v, 'ExtractDetectionProperty');
      return DETECTION_PROPERTIES[op.property_name as string](d, all);
    },
  },
  DetectionsFilter: {
    check: (op) => {
      try {
        checkStatement(op.filter_operation, 'filter_operation');
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    },
    run: (v, op, params) => {
      const d = asDetections(v, 'DetectionsFilter');
      const kept = d.items.filter((item) =>
        evaluateStatement(op.filter_operation, { ...params, _: d.with([item]) }),
      );
      return d.with(kept);
    },
  },
  SequenceLength: { check: none, run: (v) => length(v) },
  ClassificationPropertyExtract: {
    check: oneOf('property_name', CLASSIFICATION_PROPERTIES),
    run: (v, op) => classificationProperty(v, op.property_name as string),
  },
  SortDetections: {
    check: (op) =>
      oneOf(
        'mode',
        ['confidence', 'x_min', 'x_max', 'y_min', 'y_max', 'size', 'center_x', 'center_y'],
        'confidence',
      )(op) ??
      (op.ascending === undefined || typeof op.ascending === 'boolean'
        ? null
        : '"ascending" must be a boolean'),
    run: (v, op) => {
      const d = asDetections(v, 'SortDetections');
      const key = sortKey((op.mode as string) ?? 'confidence');
      const sign = op.ascending === false ? -1 : 1;
      return d.with([...d.items].sort((a, b) => sign * (key(a) - key(b))));
    },
  },
  DetectionsSelection: {
    check: oneOf('mode', ['left_most', 'right_most', 'top_confidence', 'first', 'last'], 'top_confidence'),
    run: (v, op) => {
      const d = asDetections(v, 'DetectionsSelection');
      if (d.length === 0) return d;
      const pick = (better: (a: Detection, b: Detection) => boolean) =>
        d.items.reduce((best, x) => (better(x, best) ? x : best));
      switch (op.mode ?? 'top_confidence') {
        case 'left_most':
          return d.with([pick((a, b) => a.x1 < b.x1)]);
        case 'right_most':
          return d.with([pick((a, b) => a.x2 > b.x2)]);
        case 'first':
          return d.with([d.items[0]]);
        case 'last':
          return d.with([d.items[d.length - 1]]);
        default:
          return d.with([pick((a, b) => a.confidence > b.confidence)]);
      }
    },
  },
  DetectionsOffset: {
    check: (op) => numberField('offset_x')(op) ?? numberField('offset_y')(op),
    run: (v, op) => {
      const d = asDetections(v, 'DetectionsOffset');
      const ox = (op.offset_x as number) / 2;
      const oy = (op.offset_y as number) / 2;
      return d.with(
        d.items.map((x) => ({ ...x, x1: x.x1 - ox, y1: x.y1 - oy, x2: x.x2 + ox, y2: x.y2 + oy })),
      );
    },
  },
  DetectionsShift: {
    check: (op) => numberField('shift_x')(op) ?? numberField('shift_y')(op),
    run: (v, op) => {
      const d = asDetections(v, 'DetectionsShift');
      const sx = op.shift_x as number;
      const sy = op.shift_y as number;
      return d.with(
        d.items.map((x) => ({ ...x, x1: x.x1 + sx, y1: x.y1 + sy, x2: x.x2 + sx, y2: x.y2 + sy })),
      );
    },
  },
  ToNumber: {
    check: oneOf('cast_to', ['int', 'float'], 'float'),
    run: (v, op) => {
      const n = toNumber(v);
      return op.cast_to === 'int' ? Math.trunc(n) : n;
    },
  },
  NumberRound: {
    check: numberField('decimal_digits', true),
    run: (v, op) => {
      const n = toNumber(v);
      return Number(n.toFixed((op.decimal_digits as number | undefined) ?? 0));
    },
  },
  Multiply: { check: numberField('other'), run: (v, op) => toNumber(v) * (op.other as number) },
  Divide: {
    check: numberField('other'),
    run: (v, op) => {
      if (op.other === 0) throw new Error('division by zero');
      return toNumber(v) / (op.other as number);
    },
  },
  ToString: { check: none, run: (v) => pythonStr(v) },
  ToBoolean: {
    check: none,
    run: (v) => {
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number') return v !== 0;
      if (typeof v === 'string') {
        if (v.toLowerCase() === 'true') return true;
        if (v.toLowerCase() === 'false') return false;
      }
      throw new Error(`cannot convert ${JSON.stringify(v)} to a boolean`);
    },
  },
  StringToLowerCase: { check: none, run: (v) => String(v).toLowerCase() },
  StringToUpperCase: { check: none, run: (v) => String(v).toUpperCase() },
  StringSubSequence: {
    check: (op) => numberField('start', true)(op) ?? numberField('end', true)(op),
    run: (v, op) => {
      if (typeof v !== 'string') throw new Error('StringSubSequence expects a string');
      const start = (op.start as number | undefined) ?? 0;
      const end = (op.end as number | undefined) ?? -1;
      // Python slicing; the reference's default end of -1 is special-cased to "until the end".
      return end === -1 ? v.slice(start) : v.slice(start, end);
    },
  },
  StringMatches: {
    check: (op) => (typeof op.regex === 'string' ? null : '"regex" must be a string'),
    run: (v, op) => new RegExp(op.regex as string).test(String(v)),
  },
  SequenceElementsCount: {
    check: none,
    run: (v) => {
      if (!Array.isArray(v)) throw new Error('SequenceElementsCount expects a list');
      const counts: Record<string, number> = {};
      for (const x of v) counts[String(x)] = (counts[String(x)] ?? 0) + 1;
      return counts;
    },
  },
  SequenceAggregate: {
    check: oneOf('mode', ['first', 'last', 'most_common', 'least_common'], 'first'),
    run: (v, op) => {
      if (!Array.isArray(v) || v.length === 0) throw new Error('SequenceAggregate expects a non-empty list');
      const mode = (op.mode as string) ?? 'first';
      if (mode === 'first') return v[0];
      if (mode === 'last') return v[v.length - 1];
      const counts = new Map<string, { value: unknown; n: number }>();
      for (const x of v) {
        const k = JSON.stringify(x);
        const e = counts.get(k) ?? { value: x, n: 0 };
        e.n++;
        counts.set(k, e);
      }
      const entries = [...counts.values()];
      return entries.reduce((best, e) => ((mode === 'most_common' ? e.n > best.n : e.n < best.n) ? e : best))
        .value;
    },
  },
  NumericSequenceAggregate: {
    check: oneOf('function', ['min', 'max', 'sum'], 'sum'),
    run: (v, op) => {
      if (!Array.isArray(v)) throw new Error('NumericSequenceAggregate expects a list');
      if (v.length === 0) return op.neutral_value ?? null;
      const nums = v.map(toNumber);
      if (op.function === 'min') return Math.min(...nums);
      if (op.function === 'max') return Math.max(...nums);
      return nums.reduce((a, b) => a + b, 0);
    },
  },
  SequenceJoin: {
    check: none,
    run: (v, op) => {
      if (!Array.isArray(v)) throw new Error('SequenceJoin expects a list');
      return v.map(pythonStr).join((op.separator as string | undefined) ?? ', ');
    },
  },
  SequenceApply: {
    check: (op) => {
      try {
        checkOperations(op.operations, 'operations');
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    },
    run: (v, op, params) => {
      if (!Array.isArray(v)) throw new Error('SequenceApply expects a list');
      return v.map((x) => applyOperations(x, op.operations as Obj[], params));
    },
  },
  LookupTable: {
    check: (op) => (isObj(op.lookup_table) ? null : '"lookup_table" must be an object'),
    run: (v, op) => {
      const table = op.lookup_table as Obj;
      const k = String(v);
      if (!(k in table)) throw new Error(`no entry for ${JSON.stringify(v)} in the lookup table`);
      return table[k];
    },
  },
  SequenceMap: {
    check: (op) => (isObj(op.lookup_table) ? null : '"lookup_table" must be an object'),
    run: (v, op) => {
      if (!Array.isArray(v)) throw new Error('SequenceMap expects a list');
      const table = op.lookup_table as Obj;
      return v.map((x) => {
        const k = String(x);
        if (!(k in table)) throw new Error(`no entry for ${JSON.stringify(x)} in the lookup table`);
        return table[k];
      });
    },
  },
  ExtractImageProperty: {
    check: oneOf('property_name', ['size', 'height', 'width', 'aspect_ratio']),
    run: (v, op) => {
      if (!(v instanceof WorkflowImage)) throw new Error('ExtractImageProperty expects an image');
      switch (op.property_name) {
        case 'size':
          return v.width * v.height;
        case 'height':
          return v.height;
        case 'width':
          return v.width;
        default:
          return v.height !== 0 ? v.width / v.height : 0;
      }
    },
  },
};

/** Operation types this implementation runs. */
export const SUPPORTED_OPERATIONS = Object.keys(OPERATIONS);

/** Validates an operation chain. @throws UqlError */
export function checkOperations(ops: unknown, path: string): void {
  if (!Array.isArray(ops)) throw new UqlError(path, 'must be a list of operations');
  ops.forEach((op, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(op) || typeof op.type !== 'string') throw new UqlError(p, 'an operation needs a "type"');
    const def = OPERATIONS[op.type];
    if (!def)
      throw new UqlError(
        p,
        `operation "${op.type}" is not supported (supported: ${SUPPORTED_OPERATIONS.join(', ')})`,
      );
    const problem = def.check(op);
    if (problem) throw new UqlError(`${p} (${op.type})`, problem);
  });
}

/** Runs an operation chain. */
export function applyOperations(value: unknown, ops: readonly Obj[] | undefined, params: Params): unknown {
  let v = value;
  for (const op of ops ?? []) v = OPERATIONS[op.type as string].run(v, op, params);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Statements

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

function num(v: unknown, op: string): number {
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new Error(`${op} compares numbers, got ${JSON.stringify(v)}`);
  return v;
}

function str(v: unknown, op: string): string {
  if (typeof v !== 'string') throw new Error(`${op} compares strings, got ${JSON.stringify(v)}`);
  return v;
}

function seq(v: unknown, op: string): unknown[] {
  if (Array.isArray(v)) return v;
  if (v instanceof Detections) return [...v.items];
  throw new Error(`${op} needs a sequence, got ${JSON.stringify(v)}`);
}

const BINARY: Record<string, (l: unknown, r: unknown, op: string) => boolean> = {
  '==': (l, r) => deepEqual(l, r),
  '!=': (l, r) => !deepEqual(l, r),
  '(Number) ==': (l, r, o) => num(l, o) === num(r, o),
  '(Number) !=': (l, r, o) => num(l, o) !== num(r, o),
  '(Number) >': (l, r, o) => num(l, o) > num(r, o),
  '(Number) >=': (l, r, o) => num(l, o) >= num(r, o),
  '(Number) <': (l, r, o) => num(l, o) < num(r, o),
  '(Number) <=': (l, r, o) => num(l, o) <= num(r, o),
  '(Number) in range': (l, r, o) => {
    const range = seq(r, o);
    if (range.length !== 2) throw new Error(`${o} needs [low, high]`);
    const x = num(l, o);
    return x >= num(range[0], o) && x <= num(range[1], o);
  },
  '(String) startsWith': (l, r, o) => str(l, o).startsWith(str(r, o)),
  '(String) endsWith': (l, r, o) => str(l, o).endsWith(str(r, o)),
  '(String) contains': (l, r, o) => str(l, o).includes(str(r, o)),
  'in (Sequence)': (l, r, o) => seq(r, o).some((x) => deepEqual(x, l)),
  'any in (Sequence)': (l, r, o) => {
    const right = seq(r, o);
    return seq(l, o).some((x) => right.some((y) => deepEqual(x, y)));
  },
  'all in (Sequence)': (l, r, o) => {
    const right = seq(r, o);
    return seq(l, o).every((x) => right.some((y) => deepEqual(x, y)));
  },
};

const UNARY: Record<string, (v: unknown, op: string) => boolean> = {
  Exists: (v) => v !== null && v !== undefined,
  DoesNotExist: (v) => v === null || v === undefined,
  '(Boolean) is True': (v) => v === true,
  '(Boolean) is False': (v) => v === false,
  '(Sequence) is empty': (v, o) => length(seq(v, o)) === 0,
  '(Sequence) is not empty': (v, o) => length(seq(v, o)) > 0,
};

function checkOperand(o: unknown, path: string): void {
  if (!isObj(o)) throw new UqlError(path, 'an operand must be an object');
  if (o.type === 'StaticOperand') {
    if (!('value' in o)) throw new UqlError(path, 'a StaticOperand needs a "value"');
  } else if (o.type === 'DynamicOperand') {
    if (o.operand_name !== undefined && typeof o.operand_name !== 'string')
      throw new UqlError(path, '"operand_name" must be a string');
  } else {
    throw new UqlError(
      path,
      `unknown operand type ${JSON.stringify(o.type)} (StaticOperand or DynamicOperand)`,
    );
  }
  if (o.operations !== undefined) checkOperations(o.operations, `${path}.operations`);
}

/** Validates a statement (group, binary or unary). @throws UqlError */
export function checkStatement(s: unknown, path: string): void {
  if (!isObj(s)) throw new UqlError(path, 'a statement must be an object');
  switch (s.type) {
    case 'StatementGroup': {
      if (!Array.isArray(s.statements) || s.statements.length === 0)
        throw new UqlError(path, 'a StatementGroup needs at least one statement');
      if (s.operator !== undefined && s.operator !== 'and' && s.operator !== 'or')
        throw new UqlError(path, '"operator" must be "and" or "or"');
      for (const [i, x] of s.statements.entries()) checkStatement(x, `${path}.statements[${i}]`);
      return;
    }
    case 'BinaryStatement': {
      checkOperand(s.left_operand, `${path}.left_operand`);
      checkOperand(s.right_operand, `${path}.right_operand`);
      const c = isObj(s.comparator) ? s.comparator.type : undefined;
      if (typeof c !== 'string' || !BINARY[c])
        throw new UqlError(
          `${path}.comparator`,
          `unsupported comparator ${JSON.stringify(c)} (supported: ${Object.keys(BINARY).join(', ')})`,
        );
      return;
    }
    case 'UnaryStatement': {
      checkOperand(s.operand, `${path}.operand`);
      const o = isObj(s.operator) ? s.operator.type : undefined;
      if (typeof o !== 'string' || !UNARY[o])
        throw new UqlError(
          `${path}.operator`,
          `unsupported operator ${JSON.stringify(o)} (supported: ${Object.keys(UNARY).join(', ')})`,
        );
      return;
    }
    default:
      throw new UqlError(
        path,
        `unknown statement type ${JSON.stringify(s.type)} (StatementGroup, BinaryStatement or UnaryStatement)`,
      );
  }
}

/** Parameter names a statement or chain reads (operand names other than `_`). */
export function operandNames(node: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const x of node) operandNames(x, into);
  } else if (isObj(node)) {
    if (node.type === 'DynamicOperand') into.add((node.operand_name as string | undefined) ?? '_');
    for (const v of Object.values(node)) if (typeof v === 'object') operandNames(v, into);
  }
  return into;
}

function operandValue(o: Obj, params: Params): unknown {
  let v: unknown;
  if (o.type === 'StaticOperand') {
    v = o.value;
  } else {
    const name = (o.operand_name as string | undefined) ?? '_';
    if (!(name in params)) throw new Error(`operand "${name}" is not defined`);
    v = params[name];
  }
  return applyOperations(v, o.operations as Obj[] | undefined, params);
}

/** Evaluates a validated statement. Groups evaluate every statement, then fold (default `or`). */
export function evaluateStatement(s: unknown, params: Params): boolean {
  const st = s as Obj;
  let result: boolean;
  if (st.type === 'StatementGroup') {
    const values = (st.statements as unknown[]).map((x) => evaluateStatement(x, params));
    result = st.operator === 'and' ? values.every(Boolean) : values.some(Boolean);
    return result;
  }
  if (st.type === 'BinaryStatement') {
    const c = (st.comparator as Obj).type as string;
    result = BINARY[c](
      operandValue(st.left_operand as Obj, params),
      operandValue(st.right_operand as Obj, params),
      c,
    );
  } else {
    const o = (st.operator as Obj).type as string;
    result = UNARY[o](operandValue(st.operand as Obj, params), o);
  }
  return st.negate === true ? !result : result;
}
