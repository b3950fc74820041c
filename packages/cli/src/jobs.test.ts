import type { JobStageDetails, TaskStatus } from '@visionbatch/shared/wire/batch-processing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from './api-client.ts';
import { type FakeApi, startFakeApi } from './fake-api.test-support.ts';
import { waitForJob } from './job-wait.ts';
import { type JobMetadata, renderJobDetails, stageReport } from './jobs.ts';

const T = '2026-08-21T10:15:30.123Z';
const stage = (over: Partial<JobStageDetails> = {}): JobStageDetails => ({
  processingStageId: 'st-1',
  processingStageName: 'processing',
  tasksNumber: 4,
  outputBatches: ['job-1-processing'],
  startTimestamp: T,
  notification: '',
  statusType: 'info',
  lastEventTimestamp: T,
  ...over,
});
const task = (
  id: string,
  statusType: TaskStatus['statusType'],
  progress: number | null,
  notification: TaskStatus['notification'] = '',
): TaskStatus => ({
  taskId: id,
  statusType,
  progress,
  notification,
  eventTimestamp: T,
});
const job = (over: Partial<JobMetadata> = {}): JobMetadata => ({
  jobId: 'job-1',
  name: 'job-1',
  jobDefinition: { type: 'simple-image-processing-v1' },
  currentStage: 'processing',
  plannedStages: ['processing', 'export'],
  error: false,
  isTerminal: false,
  createdAt: T,
  lastUpdate: T,
  ...over,
});

describe('stageReport', () => {
  it('counts tasks as the Roboflow CLI does and groups failures', () => {
    const r = stageReport(stage({ tasksNumber: 6 }), [
      task('a', 'success', 1),
      task('b', 'error', 1, { reason: 'too many failed images' }),
      task('c', 'error', 1, { reason: 'too many failed images' }),
      task('d', 'error', 1, 'timeout'),
      task('e', 'info', 0.5),
    ]);
    expect(r).toMatchObject({ succeeded: 1, failed: 3, running: 1, waiting: 1, finished: false });
    expect(r.progress).toBeCloseTo(4.5 / 6);
    expect(r.failures).toEqual([
      { notification: '{"reason":"too many failed images"}', count: 2 },
      { notification: 'timeout', count: 1 },
    ]);
  });

  it('renders running and finished jobs', () => {
    const running = renderJobDetails(job(), [stageReport(stage(), [task('a', 'info', 0.25)])]);
    expect(running).toContain('State:         RUNNING');
    expect(running).toContain('[processing] -> export');
    expect(running).toMatch(/processing\s+info\s+6\.3%\s+4\s+0\s+0\s+1\s+3/);
    const failed = renderJobDetails(
      job({
        isTerminal: true,
        error: true,
        currentStage: 'processing',
        lastNotification: { message: 'stage failed' },
      }),
      [stageReport(stage({ statusType: 'error', tasksNumber: 1 }), [task('a', 'error', 1, 'boom')])],
    );
    expect(failed).toContain('State:         FAILED');
    expect(failed).toContain('Last status:   {"message":"stage failed"}');
    expect(failed).toContain('Failed tasks of stage processing:\n  1 x boom');
    expect(renderJobDetails(job({ currentStage: null, plannedStages: null }), [])).toContain(
      'No stages planned yet.',
    );
  });

  it('shows the compute time billed to the job', () => {
    const text = renderJobDetails(
      job({ computeUsage: { cpuSeconds: 12.345, gpuSeconds: 0, credits: 0.00343 } }),
      [],
    );
    expect(text).toContain('Compute:       12.3 s CPU, 0.0 s GPU (0.0034 credits)');
  });
});

describe('waitForJob', () => {
  let api: FakeApi;
  beforeEach(async () => {
    api = await startFakeApi();
  });
  afterEach(() => api.close());

  it('polls until the job is terminal and returns it', async () => {
    const BP = '/batch-processing/v1/external/demo/jobs/job-1';
    let polls = 0;
    api.on('GET', BP, () => {
      polls++;
      return { json: { job: job(polls < 3 ? {} : { isTerminal: true, currentStage: 'export' }) } };
    });
    api.on('GET', `${BP}/stages`, () => ({
      json: {
        stages:
          polls < 2
            ? [stage()]
            : [
                stage({ statusType: 'success' }),
                stage({
                  processingStageId: 'st-2',
                  processingStageName: 'export',
                  tasksNumber: 1,
                  startTimestamp: '2026-08-21T10:16:00.000Z',
                }),
              ],
      },
    }));
    api.on('GET', `${BP}/stages/st-1/tasks`, () => ({
      json: { tasks: [task('a', 'success', 1)], nextPageToken: null },
    }));
    api.on('GET', `${BP}/stages/st-2/tasks`, () => ({
      json: { tasks: [task('x', 'success', 1)], nextPageToken: null },
    }));
    const lines: string[] = [];
    const client = new ApiClient({ baseUrl: api.url, apiKey: 'k' });
    const done = await waitForJob(client, 'job-1', {
      intervalMs: 10,
      progress: { silent: true },
      log: (l) => lines.push(l),
    });
    expect(done.isTerminal).toBe(true);
    expect(done.error).toBe(false);
    expect(polls).toBe(3);
    expect(lines).toEqual(['Job job-1 succeeded']);
  });

  it('ends with the failed files by reason and the workflow warnings', async () => {
    const BP = '/batch-processing/v1/external/demo/jobs/job-1';
    api.on('GET', BP, () => ({ json: { job: job({ isTerminal: true, currentStage: 'export' }) } }));
    api.on('GET', `${BP}/stages`, () => ({
      json: {
        stages: [
          stage({ statusType: 'success', notification: { tasks: 1, filesProcessed: 4, filesFailed: 3 } }),
        ],
      },
    }));
    api.on('GET', `${BP}/stages/st-1/tasks`, () => ({
      json: { tasks: [task('a', 'success', 1)], nextPageToken: null },
    }));
    const log = (logType: string, payload: Record<string, unknown>) => ({
      createdAt: T,
      processingStageId: 'st-1',
      taskId: 'a',
      severity: 'error',
      reportingModule: 'worker',
      logType,
      payload,
    });
    api.on('GET', `${BP}/logs`, (r) =>
      r.query.get('nextPageToken')
        ? {
            json: {
              logs: [log('image-failed', { file: 'c.jpg', reason: 'download-failed' })],
              nextPageToken: null,
            },
          }
        : {
            json: {
              logs: [
                log('workflow-warning', { step: 'det', field: 'iou', message: '"iou" is not a field of x' }),
                log('image-failed', { file: 'a.jpg', reason: 'corrupt-image' }),
                log('image-failed', { file: 'b.jpg', reason: 'corrupt-image' }),
                log('job-succeeded', {}),
              ],
              nextPageToken: '4',
            },
          },
    );
    const lines: string[] = [];
    const client = new ApiClient({ baseUrl: api.url, apiKey: 'k' });
    await waitForJob(client, 'job-1', {
      intervalMs: 10,
      progress: { silent: true },
      log: (l) => lines.push(l),
    });
    expect(lines).toEqual([
      'Job job-1 succeeded',
      '3 of 7 files failed: corrupt-image ×2 (a.jpg, b.jpg), download-failed ×1 (c.jpg); see fetch-logs -j job-1',
      'Warning: step "det": "iou" is not a field of x',
    ]);
  });

  it('gives up after the timeout', async () => {
    api.on('GET', '/batch-processing/v1/external/demo/jobs/job-1', () => ({ json: { job: job() } }));
    api.on('GET', '/batch-processing/v1/external/demo/jobs/job-1/stages', () => ({ json: { stages: [] } }));
    const client = new ApiClient({ baseUrl: api.url, apiKey: 'k' });
    await expect(
      waitForJob(client, 'job-1', { intervalMs: 10, timeoutMs: 100, progress: { silent: true } }),
    ).rejects.toThrow(/still running/);
  });
});
