/**
 * The child process of `inspectModel` (model-validation.ts): reads from stdin a 4-byte length, the
 * InspectRequest as JSON and then the weights; resolves the model's config from the request and
 * the file (Ultralytics metadata, graph shapes), loads the model with onnxruntime and runs it once
 * as a worker would, and reports a ChildVerdict over IPC. It runs alone so that a huge or hostile
 * model can only exhaust this process, which the parent bounds and kills.
 */
import { writeFileSync } from 'node:fs';
import { VbError } from '@visionbatch/shared/errors';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import { modelFactsOfWeights, resolveModelConfig } from './model-config.ts';
import type { ChildVerdict, InspectRequest } from './model-validation.ts';

// First in line for the kernel's OOM killer: a model too large for the pod must cost this child,
// not the api.
try {
  writeFileSync('/proc/self/oom_score_adj', '1000');
} catch {}

/** Why a loaded model does not fit its record's task, or null when it does. */
async function modelProblem(record: ModelRecord, weights: Uint8Array): Promise<string | null> {
  const { createSession, OnnxModel } = await import('@visionbatch/engine/model-runtime');
  let session: Awaited<ReturnType<typeof createSession>>;
  try {
    session = await createSession(weights, { machineType: 'cpu', intraOpNumThreads: 1 });
  } catch (err) {
    return `not a loadable ONNX model: ${String((err as Error).message).split('\n')[0]}`;
  }
  try {
    await OnnxModel.bind(record, session, { maxBatch: 1 });
    return null;
  } catch (err) {
    return String((err as Error).message).split('\n')[0];
  } finally {
    await session.release();
  }
}

/** Reads the framed input into one buffer of the declared size (no second copy of a large model). */
async function readInput(): Promise<{ req: InspectRequest; weights: Buffer }> {
  let head = Buffer.alloc(0);
  let req: InspectRequest | null = null;
  let weights = Buffer.alloc(0);
  let filled = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    let data = chunk;
    if (!req) {
      head = Buffer.concat([head, data]);
      if (head.length < 4 || head.length < 4 + head.readUInt32BE(0)) continue;
      const len = head.readUInt32BE(0);
      req = JSON.parse(head.subarray(4, 4 + len).toString('utf8')) as InspectRequest;
      weights = Buffer.alloc(req.weightsBytes);
      data = head.subarray(4 + len);
    }
    filled += data.copy(weights, filled);
  }
  if (!req || filled !== weights.length) throw new Error(`short input: ${filled} of ${weights.length} bytes`);
  return { req, weights };
}

async function inspect(): Promise<ChildVerdict> {
  const { req, weights } = await readInput();
  try {
    const resolved = resolveModelConfig(req.config, modelFactsOfWeights(weights));
    const record = {
      modelId: req.modelId,
      ...resolved.config,
      weightsBytes: req.weightsBytes,
    } as ModelRecord;
    const problem = await modelProblem(record, weights);
    return problem === null ? { ok: true, ...resolved } : { ok: false, field: 'weights', reason: problem };
  } catch (err) {
    // a config that does not fit the file is a 400 naming its field
    if (err instanceof VbError && err.code === 'VB_ERR_VALIDATION') {
      const field = String(err.details.field);
      return { ok: false, field, reason: err.message.slice(field.length + 2) };
    }
    throw err;
  }
}

const verdict = await inspect();
process.send?.(verdict, () => process.exit(0));
