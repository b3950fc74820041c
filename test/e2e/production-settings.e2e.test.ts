/**
 * A stack of real processes configured the way deploy/k8s configures it: Redis over TLS with a
 * private CA, its URL without the password and the password from VB_REDIS_PASSWORD (a Secret), and a
 * worker sized by its CPU request (VB_WORKER_CPU_REQUEST, from the downward API) rather than the
 * machine's cores. A job runs end to end.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTempDir } from '../support/helpers.ts';
import { selfSignedCert } from '../support/tls-cert.ts';
import {
  createJob,
  expectEachOnce,
  exportResults,
  imageJobBody,
  registerModelAndWorkflow,
  stageImages,
  waitTerminal,
} from './e2e-support.ts';
import { RedisChild } from './redis-child.ts';
import { Stack } from './stack.ts';

const IMAGES = 12;
/** Fewer CPUs than the machine has cores (1 on a 2-core box, 2 on a bigger one). */
const CPU_REQUEST = Math.max(1, Math.min(2, os.availableParallelism() - 1));

describe('production settings: Redis over TLS with a password, workers sized by their CPU request', () => {
  let stack: Stack;
  let redis: RedisChild;
  let dir: string;

  beforeAll(async () => {
    dir = await useTempDir('vb-e2e-prod-');
    const tls = await selfSignedCert(dir);
    redis = await RedisChild.start(dir, { tls });
    const url = new URL(redis.url);
    url.password = '';
    stack = await Stack.create({
      redisUrl: url.toString(),
      dataDir: path.join(dir, 'data'),
      extraEnv: { VB_REDIS_PASSWORD: redis.password, VB_REDIS_TLS_CA: tls.ca, VB_IMAGES_PER_TASK: '4' },
    });
    await stack.start('api');
    await stack.start('scheduler');
    await stack.start('worker', 'worker', { VB_WORKER_CPU_REQUEST: String(CPU_REQUEST) });
    await registerModelAndWorkflow(stack, dir);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  it('runs a job end to end over rediss://', async () => {
    expect(stack.env.VB_REDIS_URL).toMatch(/^rediss:\/\/127\.0\.0\.1:\d+\/0$/);
    const { files } = await stageImages(stack, dir, 'prod-in', IMAGES);
    // more slots asked for than the worker was given CPUs
    const workersPerMachine = os.availableParallelism() + 2;
    await createJob(
      stack,
      'prod-job',
      imageJobBody(stack, 'prod-in', {
        computeConfiguration: { type: 'compute-configuration-v2', machineType: 'cpu', workersPerMachine },
      }),
    );
    const job = await waitTerminal(stack, 'prod-job', 120_000);
    expect(job.error).toBe(false);
    const rows = await exportResults(stack, 'prod-job', path.join(dir, 'out'));
    expect(expectEachOnce(rows, files)).toEqual({ dupes: [], missing: [], extra: [] });
  }, 180_000);

  it('the worker ran as many slots as the CPUs it requested, one onnxruntime thread each', () => {
    const started = readFileSync(path.join(stack.env.VB_DATA_DIR, 'logs', 'worker.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"lease started"'))
      .map((l) => JSON.parse(l) as { slots: number; intraOpNumThreads: number });
    expect(started.length).toBeGreaterThan(0);
    for (const s of started) expect([s.slots, s.intraOpNumThreads]).toEqual([CPU_REQUEST, 1]);
  });
});
