/**
 * `/metrics` on api, scheduler and worker exposes the catalogue of the README after a job ran; the
 * api serves it on its ops port only, not on the public port an Ingress exposes.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, freePort, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import {
  createJob,
  imageJobBody,
  registerModelAndWorkflow,
  stageImages,
  waitTerminal,
} from './e2e-support.ts';
import { Stack } from './stack.ts';

const CATALOGUE = {
  api: [
    'vb_http_request_duration_seconds_bucket',
    'vb_process_cpu_seconds_total',
    'vb_nodejs_eventloop_lag_seconds',
  ],
  scheduler: [
    'vb_active_jobs',
    'vb_jobs_ended_total',
    'vb_pool_machines',
    'vb_pool_desired_machines',
    'vb_pool_target_machines',
    'vb_pool_files_per_machine_second',
    'vb_autoscaler_errors_total',
    'vb_metered_compute_seconds_total',
    'vb_ingest_files_total',
    'vb_leases_expired_total',
  ],
  worker: [
    'vb_tasks_total',
    'vb_files_processed_total',
    'vb_task_duration_seconds_bucket',
    'vb_model_load_seconds_bucket',
    'vb_worker_lease_active',
  ],
};

describe('metrics catalogue', () => {
  let stack: Stack;
  let workerPort = 0;
  beforeAll(async () => {
    await flushRedisTestDb();
    const dir = await useTempDir('vb-e2e-metrics-');
    stack = await Stack.create({ redisUrl: redisTestUrl(), dataDir: path.join(dir, 'data') });
    await stack.start('api');
    await stack.start('scheduler');
    workerPort = await freePort();
    await stack.start('worker', 'worker', { VB_WORKER_HTTP_PORT: String(workerPort) });
    await registerModelAndWorkflow(stack, dir);
    await stageImages(stack, dir, 'metrics', 40);
    await createJob(stack, 'metrics-job', imageJobBody(stack, 'metrics'));
    await waitTerminal(stack, 'metrics-job');
  }, 120_000);
  afterAll(() => stack?.stop());

  const scrape = async (port: string | number) => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    return res.text();
  };

  it('serves the catalogue from every service', async () => {
    // the job's end is counted just after it is marked terminal: wait for that, not a fixed time
    const texts = await waitFor(
      async () => {
        const t = {
          api: await scrape(stack.env.VB_API_OPS_PORT),
          scheduler: await scrape(stack.env.VB_SCHEDULER_HTTP_PORT),
          worker: await scrape(workerPort),
        };
        return /^vb_jobs_ended_total\{state="success",service="scheduler"\} 1$/m.test(t.scheduler) ? t : null;
      },
      { timeoutMs: 20_000, intervalMs: 200, message: 'the job counted as ended' },
    );
    for (const [service, names] of Object.entries(CATALOGUE)) {
      for (const name of names)
        expect(texts[service as keyof typeof texts], `${service} ${name}`).toMatch(
          new RegExp(`^${name}[{ ]`, 'm'),
        );
    }
    // values reflect the job that ran
    expect(texts.worker).toMatch(/^vb_files_processed_total\{outcome="ok",service="worker"\} 40$/m);
    expect(texts.scheduler).toMatch(/^vb_jobs_ended_total\{state="success",service="scheduler"\} 1$/m);
    expect(texts.scheduler).toMatch(/^vb_ingest_files_total\{outcome="ingested",service="scheduler"\} 40$/m);
    expect(texts.api).toMatch(
      /vb_http_request_duration_seconds_count\{[^}]*route="\/batch-processing\/v1\/external\/:workspace\/jobs\/:jobId"/,
    );
  });

  it('keeps the api metrics off its public port, where the probes still answer', async () => {
    const pub = `http://127.0.0.1:${stack.env.VB_API_PORT}`;
    expect((await fetch(`${pub}/metrics`)).status).toBe(401);
    // even with a key: no such route (raw fetch: an undocumented path on purpose, not a contract answer)
    expect((await fetch(`${pub}/metrics?api_key=${stack.apiKey}`)).status).toBe(404);
    expect((await fetch(`${pub}/healthz`)).status).toBe(200);
    expect((await fetch(`${pub}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${stack.env.VB_API_OPS_PORT}/readyz`)).status).toBe(200);
  });
});
