import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import ort from 'onnxruntime-node';
import { ExecutionProviderUnavailableError, ModelMismatchError } from './errors.ts';
import type { TensorView } from './yolo-decode.ts';

/**
 * The `ModelRuntime` seam: the workflow executor asks it for a model by id and runs prepared
 * inputs through it. {@link OrtModelRuntime} is the onnxruntime-node implementation; tests may
 * hand the executor any object with the same shape.
 */

/** One loaded model. */
export interface InferenceModel {
  readonly record: ModelRecord;
  /**
   * Runs prepared inputs (each `3 × H × W` floats) and returns output 0 of each as a batch-1 view
   * (`[1, ...]`), in input order.
   */
  infer(inputs: readonly Float32Array[]): Promise<TensorView[]>;
}

/** Models by the id workflows name them with. */
export interface ModelRuntime {
  /** @throws Error when the id is not loaded */
  model(modelId: string): InferenceModel;
}

export interface SessionOptions {
  /** `gpu` machines must run on CUDA; `cpu` machines on the CPU provider */
  machineType: 'cpu' | 'gpu';
  /** threads of one session (1 per slot is the best layout on 2 cores, research/limits.md) */
  intraOpNumThreads: number;
  /** largest batch sent to a model with a dynamic batch dimension; default 8 */
  maxBatch?: number;
}

function isEpFailure(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /cuda|execution ?provider|providers_shared|cudnn|cublas/i.test(m);
}

/** Creates an ORT session; on gpu machines CUDA or a loud {@link ExecutionProviderUnavailableError}. */
export async function createSession(bytes: Uint8Array, opts: SessionOptions): Promise<ort.InferenceSession> {
  const provider = opts.machineType === 'gpu' ? 'cuda' : 'cpu';
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: Math.max(1, opts.intraOpNumThreads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
  try {
    return await ort.InferenceSession.create(bytes, options);
  } catch (err) {
    if (provider === 'cuda' && isEpFailure(err)) throw new ExecutionProviderUnavailableError('cuda', err);
    throw err;
  }
}

type Dim = number | string;

function dimsOf(meta: ort.InferenceSession.ValueMetadata | undefined): Dim[] | null {
  if (!meta?.isTensor) return null;
  return [...meta.shape];
}

const fmt = (dims: readonly Dim[]) => `[${dims.join(', ')}]`;

/** Checks an output shape (static or actual) against the record; returns a problem or null. */
export function checkOutputShape(record: ModelRecord, dims: readonly Dim[]): string | null {
  const C = record.classNames.length;
  const known = (d: Dim) => typeof d === 'number' && d >= 0;
  if (record.task === 'object-detection') {
    if (dims.length !== 3) return `a detector's output 0 must be rank 3, got ${fmt(dims)}`;
    if (record.postProcessing === 'nms-fused') {
      if (known(dims[2]) && dims[2] !== 6)
        return `an NMS-fused detector's output must be [B, N, 6], got ${fmt(dims)}`;
      return null;
    }
    if (record.postProcessing !== 'nms')
      return `post-processing "${record.postProcessing}" does not fit an object-detection model`;
    if (known(dims[1]) && dims[1] !== 4 + C) {
      if (dims[2] === 4 + C)
        return `output ${fmt(dims)} looks transposed ([B, N, 4 + C]); expected [B, 4 + C, N] with C = ${C} classes`;
      if (dims[1] === 4 + C + 32)
        return `output ${fmt(dims)} looks like instance segmentation (4 + C + 32 mask coefficients), which is not supported yet`;
      return `output ${fmt(dims)} does not fit ${C} class names: expected [B, ${4 + C}, N]`;
    }
    return null;
  }
  if (
    record.task === 'classification' &&
    record.postProcessing !== 'softmax' &&
    record.postProcessing !== 'softmax-fused'
  ) {
    return `post-processing "${record.postProcessing}" does not fit a single-label classifier (softmax or softmax-fused)`;
  }
  if (record.task === 'multi-label-classification' && record.postProcessing !== 'sigmoid') {
    return `post-processing "${record.postProcessing}" does not fit a multi-label classifier (sigmoid)`;
  }
  if (dims.length !== 2) return `a classifier's output 0 must be [B, C], got ${fmt(dims)}`;
  if (known(dims[1]) && dims[1] !== C)
    return `output ${fmt(dims)} does not fit ${C} class names: expected [B, ${C}]`;
  return null;
}

/** An ORT session bound to one registry record. */
export class OnnxModel implements InferenceModel {
  private constructor(
    readonly record: ModelRecord,
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
    /** fixed batch size of the model, or null when dynamic */
    private readonly staticBatch: number | null,
    private readonly maxBatch: number,
  ) {}

  /**
   * Binds a session to a record after checking that the model fits it (input size, task, number
   * of classes) and running it once on zeros (which also warms it up).
   * @throws ModelMismatchError
   */
  static async bind(
    record: ModelRecord,
    session: ort.InferenceSession,
    opts: { maxBatch?: number } = {},
  ): Promise<OnnxModel> {
    const fail = (m: string): never => {
      throw new ModelMismatchError(record.modelId, m);
    };
    const inputName = session.inputNames[0];
    const outputName = session.outputNames[0];
    if (!inputName || !outputName) fail('the model has no inputs or no outputs');
    const inDims = dimsOf(session.inputMetadata[0]);
    if (inDims) {
      if (inDims.length !== 4) fail(`input must be [B, 3, H, W], got ${fmt(inDims)}`);
      const [, c, h, w] = inDims;
      if (typeof c === 'number' && c !== 3) fail(`input must have 3 channels, got ${fmt(inDims)}`);
      if (
        (typeof h === 'number' && h !== record.input.height) ||
        (typeof w === 'number' && w !== record.input.width)
      ) {
        fail(
          `input ${fmt(inDims)} does not match the registered size ${record.input.width}x${record.input.height}`,
        );
      }
    }
    const outDims = dimsOf(session.outputMetadata[0]);
    if (outDims) {
      const problem = checkOutputShape(record, outDims);
      if (problem) fail(problem);
    }
    const b0 = inDims?.[0];
    const staticBatch = typeof b0 === 'number' && b0 > 0 ? b0 : null;
    const model = new OnnxModel(
      record,
      session,
      inputName,
      outputName,
      staticBatch,
      Math.max(1, opts.maxBatch ?? 8),
    );
    const [probe] = await model.infer([new Float32Array(3 * record.input.width * record.input.height)]);
    const problem = checkOutputShape(record, probe.dims);
    if (problem) fail(problem);
    return model;
  }

  async infer(inputs: readonly Float32Array[]): Promise<TensorView[]> {
    const { width: W, height: H } = this.record.input;
    const size = 3 * W * H;
    for (const x of inputs)
      if (x.length !== size)
        throw new Error(`model "${this.record.modelId}" expects ${size} floats per image, got ${x.length}`);
    const chunk = this.staticBatch ?? this.maxBatch;
    const results: TensorView[] = [];
    for (let start = 0; start < inputs.length; start += chunk) {
      const part = inputs.slice(start, start + chunk);
      const batch = this.staticBatch ?? part.length;
      let data: Float32Array;
      if (batch === 1) {
        data = part[0];
      } else {
        // Static-batch models get a zero-padded last chunk (§4.2).
        data = new Float32Array(batch * size);
        for (const [i, x] of part.entries()) data.set(x, i * size);
      }
      const feeds = { [this.inputName]: new ort.Tensor('float32', data, [batch, 3, H, W]) };
      const out = await this.session.run(feeds, [this.outputName]);
      const t = out[this.outputName];
      if (!(t.data instanceof Float32Array))
        throw new ModelMismatchError(this.record.modelId, `output must be float32, got ${t.type}`);
      const dims = t.dims;
      const per = t.data.length / dims[0];
      for (let i = 0; i < part.length; i++) {
        results.push({ data: t.data.subarray(i * per, (i + 1) * per), dims: [1, ...dims.slice(1)] });
      }
    }
    return results;
  }
}

/** Weights of one record, as bytes. */
export type WeightsLoader = (record: ModelRecord) => Promise<Uint8Array>;

/** {@link ModelRuntime} over onnxruntime-node sessions (one per distinct weights file). */
export class OrtModelRuntime implements ModelRuntime {
  private constructor(
    private readonly models: Map<string, OnnxModel>,
    private readonly sessions: ort.InferenceSession[],
  ) {}

  /**
   * Loads every record (keyed by the model id workflows use). Records sharing weights share a
   * session.
   * @throws ModelMismatchError, ExecutionProviderUnavailableError
   */
  static async load(
    records: Record<string, ModelRecord>,
    weights: WeightsLoader,
    opts: SessionOptions,
  ): Promise<OrtModelRuntime> {
    const bySha = new Map<string, Promise<ort.InferenceSession>>();
    const sessions: ort.InferenceSession[] = [];
    const models = new Map<string, OnnxModel>();
    try {
      for (const [id, record] of Object.entries(records)) {
        const key = record.weightsSha256 || record.weightsKey;
        let s = bySha.get(key);
        if (!s) {
          s = weights(record).then((bytes) => createSession(bytes, opts));
          bySha.set(key, s);
          sessions.push(await s);
        }
        models.set(id, await OnnxModel.bind(record, await s, { maxBatch: opts.maxBatch }));
      }
    } catch (err) {
      await Promise.allSettled(sessions.map((s) => s.release()));
      throw err;
    }
    return new OrtModelRuntime(models, sessions);
  }

  model(modelId: string): InferenceModel {
    const m = this.models.get(modelId);
    if (!m) throw new Error(`model "${modelId}" is not loaded on this worker`);
    return m;
  }

  async release(): Promise<void> {
    await Promise.allSettled(this.sessions.map((s) => s.release()));
  }
}
