import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FakeApi, startFakeApi } from './fake-api.test-support.ts';
import { expandAliases, runCli } from './program.ts';

describe('visionbatch command line', () => {
  let api: FakeApi;
  let out: string[];
  let err: string[];
  beforeEach(async () => {
    api = await startFakeApi('acme');
    out = [];
    err = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      err.push(String(s));
      return true;
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await api.close();
  });
  const cli = (...args: string[]) => runCli(['--api-url', api.url, ...args]);

  it('rewrites Roboflow multi-letter short options', () => {
    expect(expandAliases(['x', '-bn', 'n', '-pn', 'p', '--', '-bn'])).toEqual([
      'x',
      '--batch-name',
      'n',
      '--part-name',
      'p',
      '--',
      '-bn',
    ]);
  });

  it('triggers an image job with the exact body, the workspace from GET / and the -a key', async () => {
    let body: unknown;
    api.on('POST', '/batch-processing/v1/external/acme/jobs/job-x1', (r) => {
      body = JSON.parse(r.body.toString());
      expect(r.query.get('api_key')).toBe('KEY');
      expect(r.query.get('name')).toBe('nightly');
      return { json: { jobId: 'job-x1', status: 'accepted' } };
    });
    const code = await cli(
      'batch-processing',
      'process-images-with-workflow',
      '-b',
      'imgs',
      '-w',
      'wf',
      '-j',
      'job-x1',
      '-jn',
      'nightly',
      '-mt',
      'gpu',
      '-a',
      'KEY',
    );
    expect(code).toBe(0);
    expect(out.join('')).toBe('Triggered job with ID: job-x1\n');
    expect(body).toEqual({
      type: 'simple-image-processing-v1',
      jobInput: { type: 'staging-batch-input-v1', batchId: 'imgs' },
      computeConfiguration: { type: 'compute-configuration-v2', machineType: 'gpu' },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: 'acme',
        workflowId: 'wf',
        persistImagesOutputs: false,
      },
    });
  });

  it('workflows put prints the answer and each warning of the save on stderr', async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'vb-cli-wf-')), 'wf.json');
    await writeFile(file, JSON.stringify({ version: '1.0', inputs: [], steps: [], outputs: [] }));
    const answer = {
      workflowId: 'wf',
      status: 'created',
      warnings: [
        { step: 'det', field: 'iou', message: '"iou" is not a field of x@v2; did you mean "iou_threshold"?' },
      ],
    };
    api.on('PUT', '/workflows/v1/external/acme/workflows/wf', () => ({ json: answer }));
    expect(await cli('workflows', 'put', '--id', 'wf', '--file', file)).toBe(0);
    expect(JSON.parse(out.join(''))).toEqual(answer);
    expect(err.join('')).toBe(
      'Warning: step "det": "iou" is not a field of x@v2; did you mean "iou_threshold"?\n',
    );
  });

  it('list-ingest-details says so when a batch has no shards, keeping stdout empty', async () => {
    api.on('GET', '/data-staging/v1/external/acme/batches/small/shards', () => ({
      json: { shards: [], nextPageToken: null },
    }));
    expect(await cli('data-staging', 'list-ingest-details', '-b', 'small')).toBe(0);
    expect(out.join('')).toBe('');
    expect(err.join('')).toMatch(/^No ingest details for batch small: only tar-shard uploads/);
  });

  it('prints "Command failed. Cause:" with the server error and exits 1', async () => {
    api.on('GET', '/batch-processing/v1/external/acme/jobs/nope', () => ({
      status: 404,
      json: { error: 'job "nope" not found' },
    }));
    expect(await cli('batch-processing', 'show-job-details', '-j', 'nope')).toBe(1);
    expect(err.join('')).toBe(
      'Command failed. Cause: API answered HTTP 404 to GET /batch-processing/v1/external/acme/jobs/nope: job "nope" not found\n',
    );
  });

  it('uploads a model as multipart with config and weights under a slashed id', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const path = await import('node:path');
    const os = await import('node:os');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-model-'));
    await writeFile(path.join(dir, 'm.onnx'), Buffer.from([1, 2, 3]));
    await writeFile(
      path.join(dir, 'm.json'),
      JSON.stringify({ task: 'object-detection', classNames: ['a'] }),
    );
    api.on('PUT', '/models/v1/external/acme/models/shapes-det/1', (r) => {
      const text = r.body.toString('latin1');
      expect(r.headers['content-type']).toMatch(/^multipart\/form-data/);
      expect(text).toContain('name="config"');
      expect(text).toContain('{"task":"object-detection","classNames":["a"]}');
      expect(text).toContain('name="weights"; filename="m.onnx"');
      return { json: { model: { modelId: 'shapes-det/1' } } };
    });
    expect(
      await cli(
        'models',
        'upload',
        '--model-id',
        'shapes-det/1',
        '--weights',
        path.join(dir, 'm.onnx'),
        '--config',
        path.join(dir, 'm.json'),
      ),
    ).toBe(0);
    expect(JSON.parse(out.join(''))).toEqual({ model: { modelId: 'shapes-det/1' } });
  });

  it('exits non-zero on a usage error without "Command failed"', async () => {
    expect(await cli('data-staging', 'show-batch-details')).toBe(1);
    expect(err.join('')).toMatch(/required option '-b, --batch-id <id>' not specified/);
  });
});
