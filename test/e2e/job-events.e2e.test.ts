/**
 * Issue 13 over real processes (api, scheduler, worker): a job's event stream read from submit to
 * terminal with a reconnection midway (`Last-Event-ID`) misses nothing and repeats nothing, and
 * closes after the terminal event; meanwhile the job's `progress` rises monotonically to 1 and its
 * `estimatedCompletion` appears once tasks finish. A cost estimate of the same batch runs as a job
 * of its own, billed, and answers a prediction with its sample and spread.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type JobEvent, readJobEvents } from '@visionbatch/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import {
  bp,
  client,
  createJob,
  getJob,
  registerSlowModel,
  SLOW_WORKFLOW_ID,
  slowJobBody,
  stageImages,
  startStack,
  waitTerminal,
} from './e2e-support.ts';
import type { Stack } from './stack.ts';

/** Reads a job's stream until it ends (or `stopAfter` events, then drops the connection). */
async function read(
  stack: Stack,
  jobId: string,
  o: { lastEventId?: string | null; stopAfter?: (e: JobEvent) => boolean } = {},
): Promise<{ events: JobEvent[]; endedByServer: boolean }> {
  const ac = new AbortController();
  const events: JobEvent[] = [];
  for await (const e of readJobEvents(client(stack), jobId, {
    lastEventId: o.lastEventId,
    signal: ac.signal,
  })) {
    events.push(e);
    if (o.stopAfter?.(e)) {
      ac.abort();
      return { events, endedByServer: false };
    }
  }
  return { events, endedByServer: true };
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('job events, progress and estimates (real processes)', () => {
  let stack: Stack;

  beforeAll(async () => {
    await flushRedisTestDb();
    const dir = await useTempDir('vb-e2e-events-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'));
    await registerSlowModel(stack, dir);
    await stageImages(stack, dir, 'ev-in', 24, 5);
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('streams a job from submit to terminal across a reconnection, with progress rising to 1', async () => {
    await createJob(stack, 'ev-1', slowJobBody(stack, 'ev-in'));
    // progress, polled as clients do, while the stream is read
    const progress: Array<{ progress: number; eta: string | null; terminal: boolean }> = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const j = await getJob(stack, 'ev-1');
        progress.push({ progress: j.progress, eta: j.estimatedCompletion, terminal: j.isTerminal });
        if (j.isTerminal) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // first connection: dropped by the client once a task has reported progress
    const first = await read(stack, 'ev-1', {
      stopAfter: (e) => e.event === 'task' && e.data.state === 'running' && Number(e.data.progress) > 0,
    });
    expect(first.endedByServer).toBe(false);
    const resumeAt = first.events.filter((e) => e.id).at(-1)?.id as string;
    // second connection: resumes after the last event the first one saw, to the end
    const second = await read(stack, 'ev-1', { lastEventId: resumeAt });
    expect(second.endedByServer).toBe(true);
    const last = second.events.at(-1) as JobEvent;
    expect(last).toMatchObject({ id: null, event: 'terminal', data: { jobId: 'ev-1', state: 'succeeded' } });
    expect(second.events.at(-2)).toMatchObject({
      event: 'state',
      data: { state: 'succeeded', terminal: true },
    });
    expect(second.events.some((e) => e.event === 'gap')).toBe(false);

    // no gap and no duplicate: the two connections together are the job's whole stream, once
    const seen = [...first.events, ...second.events].filter((e) => e.id).map((e) => e.id);
    expect(new Set(seen).size).toBe(seen.length);
    const whole = await read(stack, 'ev-1');
    expect(whole.endedByServer).toBe(true);
    expect(seen).toEqual(whole.events.filter((e) => e.id).map((e) => e.id));
    const kinds = new Set(whole.events.map((e) => e.event));
    for (const k of ['state', 'stage', 'task', 'log', 'terminal']) expect(kinds).toContain(k);

    await poller;
    polling = false;
    const values = progress.map((p) => p.progress);
    for (let i = 1; i < values.length; i++)
      expect(values[i], JSON.stringify(progress)).toBeGreaterThanOrEqual(values[i - 1]);
    expect(values.at(-1)).toBe(1);
    expect(values.some((v) => v > 0 && v < 1)).toBe(true);
    // an estimate appears once tasks finish, before the end
    expect(progress.some((p) => !p.terminal && p.eta !== null && p.progress > 0)).toBe(true);
    const done = await getJob(stack, 'ev-1');
    expect(Date.parse(done.estimatedCompletion)).toBeGreaterThan(Date.parse(done.createdAt));
  }, 180_000);

  it('estimates the cost of a job by running a sample of its batch as a billed job of its own', async () => {
    const r = await stack.call('POST', `${bp(stack)}/jobs/estimate?machines=1`, slowJobBody(stack, 'ev-in'));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const e = r.json;
    expect(e).toMatchObject({
      status: 'done',
      jobType: 'simple-image-processing-v1',
      pool: 'cpu',
      machines: 1,
      machinesUsed: 1,
      unit: 'image',
      sample: { files: 8, units: 8, videoSeconds: null },
      batch: { files: 24, units: 24 },
    });
    expect(e.estimateJobId).toMatch(/^est-[a-z0-9]{12}$/);
    expect(e.perUnitSeconds.min).toBeLessThanOrEqual(e.perUnitSeconds.mean);
    expect(e.perUnitSeconds.mean).toBeLessThanOrEqual(e.perUnitSeconds.max);
    expect(e.perUnitSeconds.min).toBeGreaterThan(0);
    expect(e.startupSeconds).toBeGreaterThan(0);
    expect(e.predicted.machineSeconds.cpu).toBeGreaterThan(e.estimateCost.machineSeconds.cpu);
    expect(e.predicted.credits).toBeGreaterThan(0);
    // the sample is a job like any other: listed, billed, logged
    const sample = await getJob(stack, e.estimateJobId);
    expect(sample).toMatchObject({ isTerminal: true, error: false, progress: 1 });
    expect(sample.computeUsage.cpuSeconds).toBeCloseTo(e.estimateCost.machineSeconds.cpu, 2);
    const list = await stack.call('GET', `${bp(stack)}/jobs?pageSize=50`);
    expect(list.json.jobs.map((j: { jobId: string }) => j.jobId)).toContain(e.estimateJobId);
    // the answer stays available, for another number of machines too
    const again = await stack.call('GET', `${bp(stack)}/jobs/${e.estimateJobId}/estimate?machines=3`);
    expect(again.status).toBe(200);
    expect(again.json.machines).toBe(3);
    // and it is in the neighbourhood of the real run (the bench measures the accuracy; this machine is shared)
    const real = await waitTerminal(stack, 'ev-1');
    const ratio = e.predicted.machineSeconds.cpu / real.computeUsage.cpuSeconds;
    expect(ratio, JSON.stringify({ e, real: real.computeUsage })).toBeGreaterThan(0.25);
    expect(ratio).toBeLessThan(4);
  }, 240_000);

  it('refuses an estimate of a batch that does not exist, as a job creation would', async () => {
    const r = await stack.call('POST', `${bp(stack)}/jobs/estimate`, slowJobBody(stack, 'nope'));
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'VB_ERR_VALIDATION', field: 'jobInput.batchId' });
  });

  it('follows, shows and estimates jobs from the CLI', async () => {
    const cli = async (...args: string[]) =>
      promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', path.join(ROOT, 'packages/cli/src/main.ts'), ...args],
        {
          cwd: ROOT,
          env: { ...process.env, VB_API_URL: stack.apiUrl, VB_API_KEY: stack.apiKey },
        },
      );
    const watched = await cli('batch-processing', 'watch', '-j', 'ev-1', '--jsonl');
    const lines = watched.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ event: 'terminal', data: { state: 'succeeded' } });
    expect(lines.filter((l) => l.event === 'state').map((l) => l.data.state)).toEqual([
      'queued',
      'running',
      'succeeded',
    ]);
    const details = await cli('batch-processing', 'show-job-details', '-j', 'ev-1');
    expect(details.stdout).toMatch(/^Progress: +100\.0%, ended \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/m);
    const est = await cli(
      'batch-processing',
      'estimate',
      '-b',
      'ev-in',
      '-w',
      SLOW_WORKFLOW_ID,
      '--machine-type',
      'cpu',
      '--workers-per-machine',
      '1',
      '--machines',
      '2',
      '--json',
    );
    expect(JSON.parse(est.stdout)).toMatchObject({
      status: 'done',
      machines: 2,
      unit: 'image',
      batch: { files: 24 },
    });
  }, 240_000);
});
