/**
 * The child process of `validateModel` (model-validation.ts): reads from stdin a 4-byte length,
 * the model's registry record as JSON and then the weights, loads the model with onnxruntime and
 * runs it once as a worker would, and reports `{ ok }` or `{ ok: false, reason }` over IPC. It
 * runs alone so that a huge or hostile model can only exhaust this process, which the parent
 * bounds and kills.
 */
import type { ModelRecord } from '@visionbatch/shared/registry-repo';

export type ChildVerdict = { ok: true } | { ok: false; reason: string };

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function check(record: ModelRecord, weights: Uint8Array): Promise<ChildVerdict> {
  const { createSession, OnnxModel } = await import('@visionbatch/engine/model-runtime');
  let session: Awaited<ReturnType<typeof createSession>>;
  try {
    session = await createSession(weights, { machineType: 'cpu', intraOpNumThreads: 1 });
  } catch (err) {
    return {
      ok: false,
      reason: `not a loadable ONNX model: ${String((err as Error).message).split('\n')[0]}`,
    };
  }
  try {
    await OnnxModel.bind(record, session, { maxBatch: 1 });
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: String((err as Error).message).split('\n')[0] };
  } finally {
    await session.release();
  }
}

const input = await readStdin();
const recordBytes = input.readUInt32BE(0);
const record = JSON.parse(input.subarray(4, 4 + recordBytes).toString('utf8')) as ModelRecord;
const verdict = await check(record, input.subarray(4 + recordBytes));
process.send?.(verdict, () => process.exit(0));
