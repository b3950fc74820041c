/**
 * Finding 8 of the hostile-input probe: a workflow `{"specification":` nested 150,000 deep
 * (2.5 MB) overflowed the stack in `bareDefinition` (500). Every route that takes JSON refuses
 * JSON nested deeper than the limit with a 400 naming the field, wherever the JSON arrives (the
 * body, a definition inside a string, a model config), and the api stays healthy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../services/api/src/body-parsers.ts';
import { flushRedisTestDb } from '../support/helpers.ts';
import {
  expectHealthy,
  expectVbError,
  goodModel,
  type ListeningApi,
  multipart,
  send,
  startListeningApi,
} from './security-support.ts';

const WF = '/workflows/v1/external/ws-a/workflows';
const BP = '/batch-processing/v1/external/ws-a';
const DS = '/data-staging/v1/external/ws-a';
const MD = '/models/v1/external/ws-a/models';

/** `{"<key>": {"<key>": ... inner ... }}`, `depth` levels, as text (never built as an object). */
const nested = (key: string, depth: number, inner = '{}') =>
  `${`{"${key}":`.repeat(depth)}${inner}${'}'.repeat(depth)}`;
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('deeply nested JSON is a 400 naming the field, never a stack overflow', () => {
  let api: ListeningApi;
  beforeAll(async () => {
    await flushRedisTestDb();
    api = await startListeningApi('fs');
  });
  afterAll(() => api?.close());

  const json = (method: string, path: string, body: string) =>
    send(api, { method, path, headers: { 'content-type': 'application/json' }, body });

  it('a workflow {"specification": ...} nested 150,000 deep (2.5 MB)', async () => {
    const body = nested('specification', 150_000);
    expect(body.length).toBeGreaterThan(2_500_000);
    const res = await json('PUT', `${WF}/deep?api_key=key-a`, body);
    expectVbError(res, 400);
    expect(res.json().field).toMatch(/^specification\.specification/);
    expect(res.json().error).toContain(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    await expectHealthy(api);
  });

  it('a definition nested deep inside the `workflow.config` string', async () => {
    const config = nested('specification', 10_000);
    const res = await json('PUT', `${WF}/deep?api_key=key-a`, JSON.stringify({ workflow: { config } }));
    expectVbError(res, 400);
    expect(res.json().field).toMatch(/^workflow\.config\.specification/);
  });

  it('deep job parameters, deep reference-ingest bodies, deep arrays and a deep model config', async () => {
    const job = `{"type":"simple-image-processing-v1","processingSpecification":{"workflowParameters":${nested('p', 5000)}}}`;
    expectVbError(await json('POST', `${BP}/jobs/deep-job?api_key=key-a`, job), 400, {
      field: expect.stringMatching(/^processingSpecification\.workflowParameters\.p\.p/),
    });
    const refs = `{"imageReferences":[${nested('name', 5000)}]}`;
    expectVbError(
      await json('POST', `${DS}/batches/deep/bulk-upload/image-references?api_key=key-a`, refs),
      400,
      {
        field: expect.stringMatching(/^imageReferences\[0\]\.name/),
      },
    );
    expectVbError(await json('POST', `${BP}/jobs/deep-arr/restart?api_key=key-a`, deepArray(100_000)), 400);
    const m = goodModel();
    const form = multipart([
      { name: 'config', data: nested('input', 5000) },
      { name: 'weights', filename: 'm.onnx', data: m.weights },
    ]);
    const res = await send(api, {
      method: 'PUT',
      path: `${MD}/deep?api_key=key-a`,
      headers: { 'content-type': form.contentType },
      body: form.body,
    });
    expectVbError(res, 400, { field: expect.stringMatching(/^config\.input\.input/) });
    await expectHealthy(api);
  });

  it('JSON at the depth limit is still accepted as JSON (refused, if at all, for what it says)', async () => {
    const res = await json(
      'PUT',
      `${WF}/ok-depth?api_key=key-a`,
      nested('specification', MAX_JSON_DEPTH - 2),
    );
    expectVbError(res, 400, { field: 'inputs' });
  });
});
