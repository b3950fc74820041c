/**
 * Issue 14 item 10: the api loaded uploaded models (up to 512 MiB) into onnxruntime in its own
 * process, so one huge or hostile model could exhaust its memory or hang it. The check now runs
 * in a child process with a memory ceiling and a timeout; a child that crosses either is killed
 * and the upload refused with a 400 saying why, while the api stays healthy.
 */
import { readdir, readFile } from 'node:fs/promises';
import { GraphBuilder } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb } from '../support/helpers.ts';
import {
  expectHealthy,
  expectNothingLeft,
  expectVbError,
  goodModel,
  type ListeningApi,
  multipart,
  send,
  startListeningApi,
} from './security-support.ts';

const MD = '/models/v1/external/ws-a/models';
const TIMEOUT_S = 6;
const MAX_MEMORY_MB = 400;

/**
 * A 3-class classifier of any input size: the image plus 1, eight times over, then a global average
 * pool → [1, 3]. Each sum writes a tensor as large as the image, so checking it on a huge image
 * holds that much memory for a while (long enough for the sampler to see it on any machine).
 */
function anySizeClassifier(): Uint8Array {
  const g = new GraphBuilder('any-size');
  let x = g.input('images', [1, 3, 'h', 'w']);
  const one = g.constF([1], []);
  for (let i = 0; i < 8; i++) x = g.add(x, one);
  const pooled = g.op('GlobalAveragePool', [x]);
  g.output(g.reshape(pooled, [1, 3], 'scores'), [1, 3]);
  return g.build();
}

/**
 * A 3-class classifier of 1024×1024 images that multiplies 1536×2048 by 2048×2048 matrices 1000
 * times: 13 TFLOP, about a minute on a fast core.
 */
function slowClassifier(): Uint8Array {
  const g = new GraphBuilder('slow');
  const x = g.input('images', [1, 3, 1024, 1024]);
  const w = g.constF(new Float32Array(2048 * 2048).fill(0.0001), [2048, 2048], 'w');
  let m = g.reshape(x, [1536, 2048]);
  for (let i = 0; i < 1000; i++) m = g.op('MatMul', [m, w]);
  const col = g.reduceSum(m, [1], false);
  g.output(g.reshape(g.slice(col, [0], [3], [0]), [1, 3], 'scores'), [1, 3]);
  return g.build();
}

const classifierConfig = (size: number) => ({
  task: 'classification',
  classNames: ['a', 'b', 'c'],
  input: { width: size, height: size },
  resizeMode: 'stretch',
});

/** Live child processes of this process that run the model check. */
async function modelCheckChildren(): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('model-validation-child')) out.push(Number(pid));
  }
  return out;
}

describe('the model check runs in a bounded child process', () => {
  let api: ListeningApi;
  beforeAll(async () => {
    await flushRedisTestDb();
    api = await startListeningApi('fs', {
      VB_MODEL_VALIDATION_TIMEOUT_S: String(TIMEOUT_S),
      VB_MODEL_VALIDATION_MAX_MEMORY_MB: String(MAX_MEMORY_MB),
    });
  });
  afterAll(() => api?.close());

  const upload = (id: string, config: unknown, weights: Uint8Array) => {
    const f = multipart([
      { name: 'config', data: JSON.stringify(config) },
      { name: 'weights', filename: 'm.onnx', data: Buffer.from(weights) },
    ]);
    return send(api, {
      method: 'PUT',
      path: `${MD}/${id}?api_key=key-a`,
      headers: { 'content-type': f.contentType },
      body: f.body,
      timeoutMs: (TIMEOUT_S + 20) * 1000,
    });
  };

  it('a model that needs more memory than allowed is refused (400), the api unharmed', async () => {
    // Checking it runs one 8192×8192 image: 805 MB of input alone.
    const res = await upload('huge', classifierConfig(8192), anySizeClassifier());
    expectVbError(res, 400, { field: 'weights' });
    expect(res.json().error).toContain(`more than ${MAX_MEMORY_MB} MiB`);
    await expectNothingLeft(api, 'ws/ws-a/models/');
    await expectHealthy(api);
  });

  it('a model that runs longer than allowed is refused (400) once the timeout passes', async () => {
    const started = Date.now();
    const res = await upload('slow', classifierConfig(1024), slowClassifier());
    expectVbError(res, 400, { field: 'weights' });
    expect(res.json().error).toContain(`did not finish within ${TIMEOUT_S} s`);
    expect(Date.now() - started).toBeLessThan((TIMEOUT_S + 15) * 1000);
    await expectNothingLeft(api, 'ws/ws-a/models/');
  });

  it('a model that fits is accepted, and no check process outlives its upload', async () => {
    const m = goodModel();
    const res = await upload('good', m.config, m.weights);
    expect(res.status, res.text).toBe(200);
    const small = await upload('small', classifierConfig(64), anySizeClassifier());
    expect(small.status, small.text).toBe(200);
    expect(await modelCheckChildren()).toEqual([]);
    await expectHealthy(api);
  });
});
