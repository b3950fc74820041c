/**
 * The vertical slice over real processes: api, scheduler and a worker as separate processes; images
 * staged through single uploads and a tar shard; model + workflow registered; a Roboflow job body;
 * the job's stages, tasks and logs in the wire shapes of spec §3; the export archives downloaded,
 * unpacked and compared with the ground truth. Plus the create-job rules (idempotency, 409, 400s)
 * and list ordering.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import {
  bp,
  createJob,
  exportResults,
  imageJobBody,
  logs,
  registerModelAndWorkflow,
  score,
  stageImages,
  stages,
  startStack,
  tasks,
  waitTerminal,
} from './e2e-support.ts';
import type { Stack } from './stack.ts';

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

describe('vertical slice (api, scheduler, worker processes)', () => {
  let stack: Stack;
  let dir: string;
  let truth: Record<string, any[]> = {};

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-e2e-slice-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'));
    await registerModelAndWorkflow(stack, dir);
    // 12 single uploads and 36 through tar shards (> 32 images make the CLI use bulk upload).
    const a = await stageImages(stack, dir, 'slice-single', 12, 11);
    const b = await stageImages(stack, dir, 'slice-shards', 36, 12);
    truth = { single: a.groundTruth, shards: b.groundTruth } as never;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  for (const [label, batchId] of [
    ['single uploads', 'slice-single'],
    ['tar shards', 'slice-shards'],
  ] as const) {
    it(`runs an image job over ${label} and exports results matching the ground truth`, async () => {
      const jobId = `slice-${label.startsWith('single') ? 'a' : 'b'}`;
      await createJob(stack, jobId, imageJobBody(stack, batchId));
      const job = await waitTerminal(stack, jobId);
      expect(job.error).toBe(false);
      expect(job.isTerminal).toBe(true);
      expect(job.name).toBe(jobId);
      expect(job.createdAt).toMatch(TS);
      expect(job.lastUpdate).toMatch(TS);
      expect(job.restartParametersOverride).toEqual([]);
      expect(job.plannedStages).toEqual(['processing', 'export']);

      const st = await stages(stack, jobId);
      expect(st.map((s) => s.processingStageName).sort()).toEqual(['export', 'processing']);
      for (const s of st) {
        expect(s.tasksNumber).toBeGreaterThanOrEqual(1);
        expect(s.statusType).toBe('success');
        expect(s.notification).not.toBeNull();
        expect(s.startTimestamp).toMatch(TS);
        expect(s.lastEventTimestamp).toMatch(TS);
        expect(Array.isArray(s.outputBatches)).toBe(true);
        const { tasks: ts, raw } = await tasks(stack, jobId, s.processingStageId);
        expect(raw).toHaveProperty('nextPageToken');
        expect(ts).toHaveLength(s.tasksNumber);
        for (const t of ts) {
          expect(t.statusType).toBe('success');
          expect(t.progress).toBe(1);
          expect(t.notification).not.toBeNull();
          expect(t.eventTimestamp).toMatch(TS);
        }
      }
      const processing = st.find((s) => s.processingStageName === 'processing');
      // at most VB_IMAGES_PER_TASK (8) images a task; small jobs are split further to use every slot
      expect(processing.tasksNumber).toBeGreaterThanOrEqual(
        Math.ceil(Object.keys(truth[label.startsWith('single') ? 'single' : 'shards']).length / 8),
      );

      const { logs: ls, raw } = await logs(stack, jobId);
      expect(raw).toHaveProperty('nextPageToken');
      expect(ls.length).toBeGreaterThan(0);
      for (const l of ls) {
        expect(['info', 'warning', 'error']).toContain(l.severity);
        expect(l.createdAt).toMatch(TS);
      }
      expect(ls.map((l) => l.logType)).toContain('job-succeeded');

      // Export stage: tar.gz archives in an `archives` batch.
      const exp = st.find((s) => s.processingStageName === 'export');
      const list = await stack.call(
        'GET',
        `/data-staging/v1/external/${stack.workspace}/batches/${exp.outputBatches[0]}/list?partName=results`,
      );
      expect(list.status).toBe(200);
      const files = list.json.filesMetadata;
      expect(list.json).toHaveProperty('nextPageToken');
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        expect(f.fileName).toMatch(/\.tar\.gz$/);
        expect(f.contentType).toBe('archives');
      }

      const rows = await exportResults(stack, jobId, path.join(dir, `out-${jobId}`));
      const gt = truth[label.startsWith('single') ? 'single' : 'shards'] as never;
      expect(rows.length).toBe(Object.keys(gt).length);
      const s = score(gt, rows);
      expect(s.missing).toEqual([]);
      expect(s.precision).toBe(1);
      expect(s.recall).toBe(1);
      expect(s.maxErr).toBeLessThanOrEqual(2);
    }, 120_000);
  }

  it('create job is idempotent for the same body, 409 for a different one, 400 for bad bodies', async () => {
    const body = imageJobBody(stack, 'slice-single');
    const p = `${bp(stack)}/jobs/slice-idem`;
    const first = await stack.call('POST', p, body);
    expect(first.status).toBe(200);
    const again = await stack.call('POST', p, body);
    expect(again.status).toBe(200);
    const other = await stack.call('POST', p, { ...body, maxParallelTasks: 3 });
    expect(other.status).toBe(409);

    const trt = await stack.call('POST', `${bp(stack)}/jobs/slice-trt`, {
      type: 'trt-compilation-v1',
      modelId: 'x/1',
      compilationDevices: ['nvidia-t4'],
    });
    expect(trt.status).toBe(400);
    expect(JSON.stringify(trt.json)).toContain('trt-compilation-v1');

    const badRate = await stack.call('POST', `${bp(stack)}/jobs/slice-bad1`, {
      ...body,
      maxImageFailureRate: 1.5,
    });
    expect(badRate.status).toBe(400);
    expect(JSON.stringify(badRate.json)).toContain('maxImageFailureRate');

    const noBatch = await stack.call('POST', `${bp(stack)}/jobs/slice-bad2`, {
      ...body,
      jobInput: { type: 'staging-batch-input-v1' },
    });
    expect(noBatch.status).toBe(400);
    expect(JSON.stringify(noBatch.json)).toContain('batchId');

    const wrongWs = await stack.call('POST', `${bp(stack)}/jobs/slice-bad3`, {
      ...body,
      processingSpecification: { ...(body.processingSpecification as object), workspace: 'someone-else' },
    });
    expect(wrongWs.status).toBe(400);
    expect(JSON.stringify(wrongWs.json)).toContain('workspace');
    await waitTerminal(stack, 'slice-idem');
  }, 120_000);

  it('lists jobs newest first with a nextPageToken key', async () => {
    const r = await stack.call('GET', `${bp(stack)}/jobs?pageSize=10`);
    expect(r.status).toBe(200);
    expect(r.json).toHaveProperty('nextPageToken');
    const ids = r.json.jobs.map((j: any) => j.jobId);
    expect(ids.slice(0, 3)).toEqual(['slice-idem', 'slice-b', 'slice-a']);
    const created = r.json.jobs.map((j: any) => Date.parse(j.createdAt));
    expect([...created].sort((a, b) => b - a)).toEqual(created);
    const missing = await stack.call('GET', `${bp(stack)}/jobs/nope-nope`);
    expect(missing.status).toBe(404);
  });
});
