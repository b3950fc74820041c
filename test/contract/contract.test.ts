/** The contract check itself: the document is valid OpenAPI 3.1, and the checker catches what it must. */
import { Validator } from '@seriousme/openapi-schema-validator';
import { openApiDocument } from '@visionbatch/shared/wire/openapi';
import { describe, expect, it } from 'vitest';
import { checkAnswer } from './openapi-contract.ts';

const job = {
  jobId: 'j1',
  name: 'j1',
  jobDefinition: {
    type: 'simple-image-processing-v1',
    jobInput: { type: 'staging-batch-input-v1', batchId: 'b' },
    computeConfiguration: { type: 'compute-configuration-v2', machineType: 'cpu' },
    processingSpecification: {
      type: 'workflows-processing-specification-v1',
      workspace: 'ws',
      workflowId: 'wf',
    },
  },
  currentStage: null,
  plannedStages: ['processing', 'export'],
  error: false,
  isTerminal: false,
  lastNotification: 'job accepted',
  createdAt: '2025-01-01T00:00:00.000Z',
  lastUpdate: '2025-01-01T00:00:00.000Z',
  restartParametersOverride: [],
  state: 'queued',
  computeUsage: { cpuSeconds: 0, gpuSeconds: 0, credits: 0 },
  progress: 0,
  estimatedCompletion: null,
};
const JSON_TYPE = 'application/json; charset=utf-8';
const JOB_PATH = '/batch-processing/v1/external/ws/jobs/j1';

describe('/openapi.json and the contract check', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const v = new Validator();
    const doc = openApiDocument({ version: '0.1.0', serverUrl: 'http://127.0.0.1:8080' });
    const res = await v.validate(doc as never);
    expect(res.errors).toBeUndefined();
    expect(res.valid).toBe(true);
    expect(v.version).toBe('3.1');
  });

  it('accepts an answer the document describes', () => {
    expect(checkAnswer('GET', JOB_PATH, 200, { job }, JSON_TYPE)).toBeNull();
    expect(
      checkAnswer(
        'GET',
        JOB_PATH,
        404,
        { error: 'job "j1" not found', code: 'VB_ERR_NOT_FOUND', job: 'j1' },
        JSON_TYPE,
      ),
    ).toBeNull();
    // a model id spans two segments; a literal route wins over a parameter
    expect(
      checkAnswer(
        'DELETE',
        '/models/v1/external/ws/models/p/1',
        200,
        { modelId: 'p/1', status: 'deleted' },
        JSON_TYPE,
      ),
    ).toBeNull();
  });

  it('fails on an undocumented field, anywhere in the body', () => {
    expect(checkAnswer('GET', JOB_PATH, 200, { job: { ...job, secretSauce: 1 } }, JSON_TYPE)).toMatch(
      /\/job has the undocumented field "secretSauce"/,
    );
    expect(
      checkAnswer(
        'GET',
        JOB_PATH,
        200,
        { job: { ...job, computeUsage: { ...job.computeUsage, watts: 3 } } },
        JSON_TYPE,
      ),
    ).toMatch(/undocumented field "watts"/);
    expect(
      checkAnswer('GET', JOB_PATH, 400, { error: 'x', code: 'VB_ERR_VALIDATION', hint: 'y' }, JSON_TYPE),
    ).toMatch(/undocumented field "hint"/);
  });

  it('fails on a missing field, a wrong type, an undocumented status, method or path', () => {
    const { computeUsage: _c, ...noUsage } = job;
    expect(checkAnswer('GET', JOB_PATH, 200, { job: noUsage }, JSON_TYPE)).toMatch(/computeUsage/);
    expect(checkAnswer('GET', JOB_PATH, 200, { job: { ...job, isTerminal: 'no' } }, JSON_TYPE)).toMatch(
      /boolean/,
    );
    expect(checkAnswer('GET', JOB_PATH, 418, { error: 'x', code: 'VB_ERR_TEAPOT' }, JSON_TYPE)).toMatch(
      /status 418 is not documented/,
    );
    expect(
      checkAnswer('GET', JOB_PATH, 500, { error: 'internal error', code: 'VB_ERR_INTERNAL' }, JSON_TYPE),
    ).toMatch(/status 500 is not documented/);
    expect(checkAnswer('PATCH', JOB_PATH, 200, {}, JSON_TYPE)).toMatch(/PATCH is not documented/);
    expect(checkAnswer('GET', '/nope/v1', 404, {}, JSON_TYPE)).toMatch(/path is not documented/);
  });
});
