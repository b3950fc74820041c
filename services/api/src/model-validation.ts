import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Errors } from '@visionbatch/shared/errors';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import type { ConfigSources, ModelConfigInput, ResolvedModelConfig } from './model-config.ts';

/** Models larger than this are stored without being read: their config must then be complete. */
export const VALIDATE_MAX_BYTES = 512 * 1024 * 1024;

/** What the api sends the child before the weights: the user's config (or none) and the size. */
export interface InspectRequest {
  modelId: string;
  config: ModelConfigInput | null;
  weightsBytes: number;
}

/** What the child prints: the resolved config, or why the model does not fit (`field`, `problem`), or an error. */
export type InspectReply =
  | { ok: true; config: ResolvedModelConfig; sources: ConfigSources }
  | { ok: false; field?: string; problem?: string; error?: string };

/**
 * Loads an uploaded model with onnxruntime (CPU) and runs it once, as a worker would, and returns
 * why it does not fit its declared task (null when it does), so such a model fails at upload with a
 * clear 400 rather than in every job. Uses the worker engine's own binding checks. Runs in the
 * inspection child (model-validation-child.ts), never in the api process itself.
 */
export async function modelProblem(record: ModelRecord, weights: Uint8Array): Promise<string | null> {
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
    if ((err as Error).name === 'ModelMismatchError') return (err as Error).message;
    throw err;
  } finally {
    await session.release();
  }
}

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'model-validation-child.ts');

/**
 * Everything an upload needs from the weights, done in a child process fed from the store: read the
 * Ultralytics metadata and graph shapes, resolve the config (the user's fields over what the file
 * says), then load and run the model once. The model (up to 512 MiB) and its onnxruntime session
 * live in the child's memory, not the api's, and the child volunteers as the OOM killer's first
 * choice, so a model too big for the pod fails its upload instead of killing the api. Answers the
 * resolved config; a model that does not fit is a 400 naming the field.
 */
export async function inspectModel(
  req: InspectRequest,
  weights: Readable,
): Promise<{ config: ResolvedModelConfig; sources: ConfigSources }> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', tsx, CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  child.stdin.write(`${JSON.stringify(req)}\n`);
  // A child that dies mid-stream closes its stdin (EPIPE): its exit says why.
  await pipeline(weights, child.stdin).catch(() => weights.destroy());
  const [code, signal] = await exited;
  let reply: InspectReply | null = null;
  try {
    reply = JSON.parse(out) as InspectReply;
  } catch {}
  if (reply?.ok) return { config: reply.config, sources: reply.sources };
  if (reply?.problem) throw Errors.validation(reply.field ?? 'weights', reply.problem);
  if (signal === 'SIGKILL')
    throw Errors.validation(
      'weights',
      'the model could not be loaded within the memory available to validate it',
    );
  throw new Error(`model validation failed (exit ${code ?? signal}): ${reply?.error ?? 'no reply'}`);
}
