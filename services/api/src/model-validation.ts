import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Errors } from '@visionbatch/shared/errors';
import pLimit from 'p-limit';
import type { ConfigSources, ModelConfigInput, ResolvedModelConfig } from './model-config.ts';

/** Models larger than this are stored without being read: their config must then be complete. */
export const VALIDATE_MAX_BYTES = 512 * 1024 * 1024;

/** Limits of the child process that inspects one model. */
export interface ModelValidationLimits {
  timeoutMs: number;
  /** resident memory of the child; past it the child is killed */
  maxMemoryBytes: number;
}

/** What the api sends the child before the weights: the user's config (or none) and the size. */
export interface InspectRequest {
  modelId: string;
  config: ModelConfigInput | null;
  weightsBytes: number;
}

/** What the child reports: the resolved config, or why the model does not fit (`field`, `reason`). */
export type ChildVerdict =
  | { ok: true; config: ResolvedModelConfig; sources: ConfigSources }
  | { ok: false; field: string; reason: string };

const CHILD = fileURLToPath(new URL('./model-validation-child.ts', import.meta.url));
/** The child is TypeScript, like every service: it runs through tsx's loader. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/** How often the child's resident memory is sampled. */
const MEMORY_SAMPLE_MS = 50;
/**
 * Inspections running at once in this api process; further uploads wait their turn, so many
 * parallel uploads cannot add up to many times the per-check memory ceiling.
 */
const CONCURRENT_CHECKS = 2;
const checkSlots = pLimit(CONCURRENT_CHECKS);

/** What the child reads from stdin: the request's length (4 bytes), the request as JSON, the weights. */
async function* framed(req: InspectRequest, weights: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const json = Buffer.from(JSON.stringify(req), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(json.length);
  yield Buffer.concat([head, json]);
  yield* weights;
}

/** Resident memory of a process in bytes (Linux /proc), or null where it cannot be read. */
async function residentBytes(pid: number): Promise<number | null> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Everything an upload needs from the weights, done in a child process fed through a pipe (the api
 * never holds them whole): read the Ultralytics metadata and graph shapes, resolve the config (the
 * user's fields over what the file says), then load the model with onnxruntime (CPU) and run it
 * once as a worker would, so a model that does not fit its task fails at upload with a clear 400
 * rather than in every job. V8's heap is capped, the child's resident memory is sampled and the
 * child killed past `maxMemoryBytes`, and after `timeoutMs`; it is also the OOM killer's first
 * choice. So a huge or hostile model can neither exhaust the api's memory nor hang it; at most
 * {@link CONCURRENT_CHECKS} run at once. Any failure of the child is a 400 with why.
 */
export function inspectModel(
  req: InspectRequest,
  weights: AsyncIterable<Buffer>,
  limits: ModelValidationLimits,
): Promise<{ config: ResolvedModelConfig; sources: ConfigSources }> {
  return checkSlots(() => inspectInChild(req, weights, limits));
}

async function inspectInChild(
  req: InspectRequest,
  weights: AsyncIterable<Buffer>,
  limits: ModelValidationLimits,
): Promise<{ config: ResolvedModelConfig; sources: ConfigSources }> {
  const heapMb = Math.max(64, Math.floor(limits.maxMemoryBytes / (4 * 1024 * 1024)));
  const child = spawn(process.execPath, [`--max-old-space-size=${heapMb}`, '--import', TSX_LOADER, CHILD], {
    stdio: ['pipe', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-2000);
  });
  let killedFor: string | null = null;
  const kill = (why: string) => {
    killedFor ??= why;
    child.kill('SIGKILL');
  };
  const timer = setTimeout(
    () => kill(`did not finish within ${limits.timeoutMs / 1000} s`),
    limits.timeoutMs,
  );
  const sampler = setInterval(async () => {
    const rss = child.pid === undefined ? null : await residentBytes(child.pid);
    if (rss !== null && rss > limits.maxMemoryBytes)
      kill(`used more than ${Math.round(limits.maxMemoryBytes / 1024 / 1024)} MiB of memory`);
  }, MEMORY_SAMPLE_MS);
  try {
    const verdict = new Promise<ChildVerdict | null>((resolve, reject) => {
      let got: ChildVerdict | null = null;
      child.on('message', (m) => {
        got = m as ChildVerdict;
      });
      child.once('error', reject);
      child.once('close', () => resolve(got));
    });
    // A child that dies mid-read closes the pipe: its exit says why, so a pipe error is not one here.
    await pipeline(Readable.from(framed(req, weights)), child.stdin as NodeJS.WritableStream).catch(() => {});
    const v = await verdict;
    if (killedFor) throw Errors.validation('weights', `model check ${killedFor}`);
    if (!v && child.signalCode === 'SIGKILL')
      throw Errors.validation(
        'weights',
        'the model could not be loaded within the memory available to check it',
      );
    if (!v) {
      const last = stderr.trim().split('\n').at(-1)?.slice(0, 200) ?? '';
      throw Errors.validation(
        'weights',
        `model check failed (exit ${child.exitCode ?? child.signalCode})${last ? `: ${last}` : ''}`,
      );
    }
    if (!v.ok) throw Errors.validation(v.field, v.reason);
    return { config: v.config, sources: v.sources };
  } finally {
    clearTimeout(timer);
    clearInterval(sampler);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
