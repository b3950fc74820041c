import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from './api-client.ts';
import { estimateJob, renderEstimate } from './estimate.ts';
import { type FakeApi, startFakeApi } from './fake-api.test-support.ts';
import { EventStreamUnavailable, followJobEvents, type JobEvent } from './job-events.ts';
import { waitForJob } from './job-wait.ts';

const BP = '/batch-processing/v1/external/demo';
const T = '2026-08-21T10:15:30.123Z';

const sse = (...events: Array<{ id?: string; event: string; data: unknown }>) => ({
  headers: { 'content-type': 'text/event-stream; charset=utf-8' },
  body: `retry: 2000\n\n${events
    .map((e) => `${e.id ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`)
    .join(': heartbeat\n\n')}`,
});

const job = (over: Record<string, unknown> = {}) => ({
  jobId: 'job-1',
  name: 'job-1',
  jobDefinition: {},
  currentStage: 'processing',
  plannedStages: ['processing', 'export'],
  error: false,
  isTerminal: false,
  createdAt: T,
  lastUpdate: T,
  ...over,
});

describe('followJobEvents', () => {
  let api: FakeApi;
  beforeEach(async () => {
    api = await startFakeApi();
  });
  afterEach(() => api.close());

  it('reopens a stream that ended early from the last event id, missing nothing', async () => {
    api.on('GET', `${BP}/jobs/job-1/events`, (req) =>
      req.headers['last-event-id'] === '2-0'
        ? sse(
            { id: '3-0', event: 'task', data: { stage: 'processing', taskId: 't1', state: 'succeeded' } },
            { id: '4-0', event: 'state', data: { state: 'succeeded', terminal: true } },
            { event: 'terminal', data: { jobId: 'job-1', state: 'succeeded' } },
          )
        : sse(
            { id: '1-0', event: 'state', data: { state: 'queued' } },
            { id: '2-0', event: 'state', data: { state: 'running' } },
            { event: 'close', data: { reason: 'max-duration' } },
          ),
    );
    const seen: JobEvent[] = [];
    const client = new ApiClient({ baseUrl: api.url, apiKey: 'k' });
    const end = await followJobEvents(client, 'job-1', (e) => seen.push(e), { retryDelayMs: 10 });
    expect(end).toEqual({ jobId: 'job-1', state: 'succeeded' });
    expect(seen.map((e) => e.id ?? e.event)).toEqual(['1-0', '2-0', 'close', '3-0', '4-0', 'terminal']);
    const opens = api.requests.filter((r) => r.path.endsWith('/events'));
    expect(opens.map((r) => r.headers['last-event-id'])).toEqual([undefined, '2-0']);
    expect(opens[0].query.get('api_key')).toBe('k');
  });

  it('gives up at once when the server has no event stream', async () => {
    const client = new ApiClient({ baseUrl: api.url, apiKey: 'k' });
    const err = await followJobEvents(client, 'job-1', () => {}, { retryDelayMs: 10 }).catch((e) => e);
    expect(err).toBeInstanceOf(EventStreamUnavailable);
    expect(err.transient).toBe(false);
    expect(api.requests.filter((r) => r.path.endsWith('/events'))).toHaveLength(1);
  });
});

describe('waitForJob over the event stream', () => {
  let api: FakeApi;
  beforeEach(async () => {
    api = await startFakeApi();
  });
  afterEach(() => api.close());

  it('reads the job when events come, not on a timer, and hands every event to onEvent', async () => {
    let ended = false;
    api.on('GET', `${BP}/jobs/job-1`, () => ({
      json: { job: job(ended ? { isTerminal: true, progress: 1 } : { progress: 0.4 }) },
    }));
    api.on('GET', `${BP}/jobs/job-1/stages`, () => ({ json: { stages: [] } }));
    api.on('GET', `${BP}/jobs/job-1/logs`, () => ({ json: { logs: [], nextPageToken: null } }));
    api.on('GET', `${BP}/jobs/job-1/events`, async () => {
      // the job ends while the stream is open
      await new Promise((r) => setTimeout(r, 300));
      ended = true;
      return sse(
        { id: '1-0', event: 'state', data: { state: 'running' } },
        { id: '2-0', event: 'state', data: { state: 'succeeded', terminal: true } },
        { event: 'terminal', data: { jobId: 'job-1', state: 'succeeded' } },
      );
    });
    const events: string[] = [];
    const lines: string[] = [];
    const client = new ApiClient({ baseUrl: api.url, apiKey: 'k' });
    const done = await waitForJob(client, 'job-1', {
      // a poll interval this short would read the job dozens of times in 300 ms
      intervalMs: 5,
      progress: { silent: true },
      log: (l) => lines.push(l),
      onEvent: (e) => events.push(e.event),
    });
    expect(done.isTerminal).toBe(true);
    expect(events).toEqual(['state', 'state', 'terminal']);
    expect(api.requests.filter((r) => r.path === `${BP}/jobs/job-1`).length).toBeLessThanOrEqual(3);
    expect(lines[0]).toBe('Job job-1 succeeded');
  });
});

describe('estimateJob', () => {
  let api: FakeApi;
  beforeEach(async () => {
    api = await startFakeApi();
  });
  afterEach(() => api.close());

  const estimate = {
    estimateJobId: 'est-1',
    status: 'done',
    jobType: 'simple-image-processing-v1',
    pool: 'cpu',
    machines: 2,
    machinesUsed: 1,
    slotsPerMachine: 2,
    unit: 'image',
    sample: { files: 8, units: 8, videoSeconds: null },
    batch: { files: 40, units: 40, tasks: 4, unitsExtrapolatedFiles: 0 },
    perUnitSeconds: { mean: 0.08, min: 0.05, max: 0.2 },
    startupSeconds: 1.25,
    taskOverheadSeconds: 0.02,
    predicted: { machineSeconds: { cpu: 9.5, gpu: 0 }, credits: 0.00264, wallSeconds: 7.2 },
    estimateCost: { machineSeconds: { cpu: 5.1, gpu: 0 }, credits: 0.0014, wallSeconds: 6 },
  } as const;

  it('asks again while the sample job runs, and renders the answer', async () => {
    api.on('POST', `${BP}/jobs/estimate`, () => ({
      status: 202,
      json: { estimateJobId: 'est-1', status: 'running' },
    }));
    let gets = 0;
    api.on('GET', `${BP}/jobs/est-1/estimate`, () =>
      ++gets < 2 ? { status: 202, json: { estimateJobId: 'est-1', status: 'running' } } : { json: estimate },
    );
    const client = new ApiClient({ baseUrl: api.url, apiKey: 'k' });
    const e = await estimateJob(client, { type: 'simple-image-processing-v1' }, { machines: 2, pollMs: 10 });
    expect(e.predicted.credits).toBe(0.00264);
    const post = api.requests.find((r) => r.method === 'POST');
    expect(post?.query.get('machines')).toBe('2');
    expect(JSON.parse(post?.body.toString() ?? '{}')).toEqual({ type: 'simple-image-processing-v1' });
    const text = renderEstimate(e);
    expect(text).toContain('Estimate of an image job on 2 cpu machine(s) (its 4 tasks keep 1 busy)');
    expect(text).toContain('credits:       0.0026');
    expect(text).toContain('per image:     0.080 s (fastest 0.050 s, slowest 0.200 s)');
    expect(text).toContain('start-up:      1.25 s per machine');
  });
});
