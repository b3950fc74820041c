/**
 * Finding 10 of the hostile-input probe: `GET .../batches/%ff?api_key=K` answered fastify's own
 * `FST_ERR_BAD_URL` body, with a message quoting the whole URL, key included. Everything fastify
 * or Node's HTTP parser refuses now has the project's error body, and no answer or log line
 * carries an API key or a signed URL's signature.
 */
import { Writable } from 'node:stream';
import { createLogger } from '@visionbatch/shared/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushRedisTestDb } from '../support/helpers.ts';
import {
  expectHealthy,
  expectVbError,
  type ListeningApi,
  rawExchange,
  send,
  startListeningApi,
} from './security-support.ts';

const SECRET_KEY = 'sk_live_9f8e7d6c5b4a';
const DS = '/data-staging/v1/external/ws-a';

describe('one error format for every refusal, with no secret in answers or logs', () => {
  let api: ListeningApi;
  const answers: string[] = [];
  beforeAll(async () => {
    await flushRedisTestDb();
    api = await startListeningApi('fs', { VB_API_KEYS: `key-a:ws-a,key-b:ws-b,${SECRET_KEY}:ws-a` });
  });
  afterAll(() => api?.close());

  const probe = async (
    opts: Parameters<typeof send>[1],
    status: number,
    fields: Record<string, unknown> = {},
  ) => {
    const res = await send(api, opts);
    answers.push(res.text);
    expectVbError(res, status, fields);
    return res;
  };

  it('a path with bad percent-encoding is a 400 in the project format, without the key', async () => {
    const res = await probe({ method: 'GET', path: `${DS}/batches/%ff?api_key=${SECRET_KEY}` }, 400, {
      code: 'VB_ERR_BAD_REQUEST',
    });
    expect(res.text).not.toContain(SECRET_KEY);
    expect(res.text).not.toContain('FST_');
  });

  it('fastify and Node refusals: long parameters, big bodies, unknown types, bad framing, huge headers', async () => {
    await probe({ method: 'GET', path: `${DS}/batches/${'b'.repeat(600)}?api_key=${SECRET_KEY}` }, 400);
    await probe(
      {
        method: 'POST',
        path: `/batch-processing/v1/external/ws-a/jobs/j1?api_key=${SECRET_KEY}`,
        headers: { 'content-type': 'application/json' },
        body: `{"x":"${'a'.repeat(1024 * 1024 + 10)}"}`,
      },
      413,
      { code: 'VB_ERR_PAYLOAD_TOO_LARGE' },
    );
    await probe(
      {
        method: 'POST',
        path: `/batch-processing/v1/external/ws-a/jobs/j1?api_key=${SECRET_KEY}`,
        headers: { 'content-type': 'text/plain' },
        body: 'hello',
      },
      415,
      { code: 'VB_ERR_UNSUPPORTED_MEDIA' },
    );
    for (const [raw, status] of [
      [`GET ${DS}/batches?api_key=${SECRET_KEY} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`, 400],
      [
        `GET ${DS}/batches?api_key=${SECRET_KEY} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
      ],
      [
        `GET ${DS}/batches?api_key=${SECRET_KEY} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
        400,
      ],
    ] as const) {
      const res = await rawExchange(api, raw, 5000);
      answers.push(res.body);
      expect(res.status, res.head).toBe(status);
      expect(JSON.parse(res.body).code).toMatch(/^VB_ERR_/);
    }
    await expectHealthy(api);
  });

  it('a signed URL with a bad signature is refused without echoing it', async () => {
    const sig = 'AAAAbadSignatureValueZZZZ';
    const res = await probe(
      { method: 'GET', path: `/signed/v1/ws-a/b/_/a.jpg?m=GET&p=file&e=9999999999&s=${sig}` },
      403,
      { code: 'VB_ERR_BAD_SIGNATURE' },
    );
    expect(res.text).not.toContain(sig);
  });

  it('no answer and no log line of this file carries the key or a signature', () => {
    expect(answers.length).toBeGreaterThan(5);
    for (const text of [...answers, ...api.logLines]) {
      expect(text).not.toContain(SECRET_KEY);
      expect(text).not.toContain('badSignatureValue');
    }
  });

  it("the logger redacts keys and signatures in messages, errors and request URLs (pino's serializers)", () => {
    const lines: string[] = [];
    const log = createLogger(
      't',
      'info',
      new Writable({
        write(c, _e, cb) {
          lines.push(String(c));
          cb();
        },
      }),
    );
    const url = `/x?api_key=${SECRET_KEY}&s=sigSIGsig&X-Amz-Signature=amzSIG&keep=1`;
    log.error({ err: new Error(`failed ${url}`), req: { method: 'GET', url }, url }, `while fetching ${url}`);
    log.info({ headers: { authorization: `Bearer ${SECRET_KEY}` } }, 'with a header');
    const out = lines.join('');
    expect(out).not.toContain(SECRET_KEY);
    expect(out).not.toContain('sigSIGsig');
    expect(out).not.toContain('amzSIG');
    expect(out).toContain('keep=1');
    expect(out).toContain('[redacted]');
  });
});
