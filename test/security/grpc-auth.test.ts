/**
 * The scheduler's control plane is authenticated: every method refuses a call without the shared
 * secret (or with another one) with UNAUTHENTICATED before its handler runs, over plain gRPC and
 * over TLS; a client with the secret is served.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  type ControlPlaneCredentials,
  createSchedulerClient,
  type SchedulerHandlers,
  startSchedulerServer,
} from '../../packages/shared/src/grpc.ts';
import { useTempDir } from '../support/helpers.ts';

const METHODS = ['SubmitJob', 'LeaseJob', 'Heartbeat', 'ReleaseLease'] as const;

/** Handlers that record every call that reaches them. */
function recordingHandlers(calls: string[]): SchedulerHandlers {
  const ack = async () => ({ ok: true, message: 'served' });
  return {
    SubmitJob: async () => (calls.push('SubmitJob'), ack()),
    LeaseJob: async () => {
      calls.push('LeaseJob');
      return {
        granted: false,
        lease_id: '',
        workspace: '',
        job_id: '',
        queue_name: '',
        workers_per_machine: 0,
        job_context_json: '',
        epoch: 0,
      };
    },
    Heartbeat: async () => (calls.push('Heartbeat'), { keep_going: true, reason: '' }),
    ReleaseLease: async () => (calls.push('ReleaseLease'), ack()),
  };
}

const request: Record<(typeof METHODS)[number], unknown> = {
  SubmitJob: { workspace: 'victim', job_id: 'j1' },
  LeaseJob: { machine_id: 'm', pool: 'cpu' },
  Heartbeat: { machine_id: 'm', lease_id: 'l' },
  ReleaseLease: { machine_id: 'm', lease_id: 'l', reason: 'x' },
};

async function codeOf(p: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as { code: number }).code;
  }
}

async function check(creds: ControlPlaneCredentials, clientCa: Buffer | null) {
  const calls: string[] = [];
  const { server, port } = await startSchedulerServer(recordingHandlers(calls), '127.0.0.1', 0, creds);
  try {
    const address = `localhost:${port}`;
    const anonymous = createSchedulerClient(address, { secret: '', ca: clientCa }, 5000);
    const wrong = createSchedulerClient(address, { secret: 'not-the-secret', ca: clientCa }, 5000);
    const good = createSchedulerClient(address, { secret: creds.secret, ca: clientCa }, 5000);
    for (const m of METHODS) {
      const call = (c: typeof good) => (c[m] as (r: unknown) => Promise<unknown>)(request[m]);
      expect(await codeOf(call(anonymous)), `${m} without credentials`).toBe(grpc.status.UNAUTHENTICATED);
      expect(await codeOf(call(wrong)), `${m} with a wrong secret`).toBe(grpc.status.UNAUTHENTICATED);
    }
    // nothing reached a handler
    expect(calls).toEqual([]);
    for (const m of METHODS)
      expect(await codeOf((good[m] as (r: unknown) => Promise<unknown>)(request[m]))).toBe('ok');
    expect(calls).toEqual([...METHODS]);
    for (const c of [anonymous, wrong, good]) c.close();
  } finally {
    server.forceShutdown();
  }
}

describe('scheduler gRPC credentials', () => {
  it('refuses every method without the shared secret (UNAUTHENTICATED) and serves it with the secret', async () => {
    await check({ secret: 's3cret-value', tls: null, ca: null }, null);
  });

  it('does the same over TLS with a self-signed certificate', async () => {
    const dir = await useTempDir('vb-grpc-tls-');
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const certPem = fs.readFileSync(cert);
    await check(
      { secret: 'tls-secret', tls: { cert: certPem, key: fs.readFileSync(key) }, ca: null },
      certPem,
    );
  });
});
