import { Errors } from '@visionbatch/shared/errors';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';

/** Models larger than this are stored without the load test (it would hold them in api memory). */
export const VALIDATE_MAX_BYTES = 512 * 1024 * 1024;

/**
 * Loads an uploaded model with onnxruntime (CPU) and runs it once, as a worker would, so a model
 * whose inputs or outputs do not fit its declared task fails at upload with a clear 400 rather
 * than in every job. Uses the worker engine's own binding checks; onnxruntime is loaded lazily so
 * the api pays for it only when models are uploaded.
 */
export async function validateModel(record: ModelRecord, weights: Uint8Array): Promise<void> {
  const { createSession, OnnxModel } = await import('@visionbatch/engine/model-runtime');
  let session: Awaited<ReturnType<typeof createSession>>;
  try {
    session = await createSession(weights, { machineType: 'cpu', intraOpNumThreads: 1 });
  } catch (err) {
    throw Errors.validation(
      'weights',
      `not a loadable ONNX model: ${String((err as Error).message).split('\n')[0]}`,
    );
  }
  try {
    await OnnxModel.bind(record, session, { maxBatch: 1 });
  } catch (err) {
    if ((err as Error).name === 'ModelMismatchError')
      throw Errors.validation('weights', (err as Error).message);
    throw err;
  } finally {
    await session.release();
  }
}
