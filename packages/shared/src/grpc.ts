import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Config } from './config.ts';
import { dataDirSecret } from './data-dir-secret.ts';

/** Message shapes of proto/scheduler.proto (proto-loader keeps field names as written). */
export interface JobRef {
  workspace: string;
  job_id: string;
}
export interface Ack {
  ok: boolean;
  message: string;
}
export interface LeaseRequest {
  machine_id: string;
  pool: string;
}
export interface LeaseReply {
  granted: boolean;
  lease_id: string;
  workspace: string;
  job_id: string;
  queue_name: string;
  workers_per_machine: number;
  job_context_json: string;
  epoch: number;
}
export interface HeartbeatRequest {
  machine_id: string;
  lease_id: string;
}
export interface HeartbeatReply {
  keep_going: boolean;
  reason: string;
}
export interface ReleaseRequest {
  machine_id: string;
  lease_id: string;
  reason: string;
}

/** What the scheduler implements. */
export interface SchedulerHandlers {
  SubmitJob(req: JobRef): Promise<Ack>;
  LeaseJob(req: LeaseRequest): Promise<LeaseReply>;
  Heartbeat(req: HeartbeatRequest): Promise<HeartbeatReply>;
  ReleaseLease(req: ReleaseRequest): Promise<Ack>;
}

/** Promise-returning client of the scheduler. */
export type SchedulerClient = SchedulerHandlers & { close(): void };

/**
 * How the control plane is secured: a shared secret every call carries, and optionally TLS (the
 * server's certificate and key; the clients' CA).
 */
export interface ControlPlaneCredentials {
  secret: string;
  tls: { cert: Buffer; key: Buffer } | null;
  ca: Buffer | null;
}

/** The control-plane credentials of this process from its configuration (secret from the data dir by default). */
export function controlPlaneCredentials(config: Config): ControlPlaneCredentials {
  const cp = config.controlPlane;
  return {
    secret: dataDirSecret(cp.secret, config.dataDir, 'control-plane.secret'),
    tls:
      cp.tlsCert && cp.tlsKey ? { cert: fs.readFileSync(cp.tlsCert), key: fs.readFileSync(cp.tlsKey) } : null,
    ca: cp.tlsCa ? fs.readFileSync(cp.tlsCa) : null,
  };
}

const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'proto', 'scheduler.proto');

function loadService(): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    visionbatch: { v1: { Scheduler: grpc.ServiceClientConstructor } };
  };
  return pkg.visionbatch.v1.Scheduler;
}

const METHODS = ['SubmitJob', 'LeaseJob', 'Heartbeat', 'ReleaseLease'] as const;

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether a call's metadata carries the secret (compared in constant time). */
function authorised(metadata: grpc.Metadata, expected: Buffer): boolean {
  const v = metadata.get('authorization')[0];
  if (typeof v !== 'string' || !v.startsWith('Bearer ')) return false;
  return timingSafeEqual(digest(v.slice(7)), expected);
}

/**
 * Starts a gRPC server for the handlers; resolves with the bound port. Every method refuses a call
 * without the shared secret with UNAUTHENTICATED before the handler runs.
 */
export async function startSchedulerServer(
  handlers: SchedulerHandlers,
  host: string,
  port: number,
  creds: ControlPlaneCredentials,
): Promise<{ server: grpc.Server; port: number }> {
  const Service = loadService();
  const server = new grpc.Server();
  const expected = digest(creds.secret);
  const impl: grpc.UntypedServiceImplementation = {};
  for (const name of METHODS) {
    impl[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      if (!authorised(call.metadata, expected)) {
        cb({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong control-plane credentials' });
        return;
      }
      (handlers[name] as (r: unknown) => Promise<unknown>)(call.request).then(
        (reply) => cb(null, reply),
        (err: Error) => cb({ code: grpc.status.INTERNAL, details: err.message }),
      );
    };
  }
  server.addService(Service.service, impl);
  const serverCreds = creds.tls
    ? grpc.ServerCredentials.createSsl(
        null,
        [{ cert_chain: creds.tls.cert, private_key: creds.tls.key }],
        false,
      )
    : grpc.ServerCredentials.createInsecure();
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, serverCreds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port: bound };
}

/** A client whose calls carry the secret and time out after `deadlineMs`. */
export function createSchedulerClient(
  address: string,
  creds: Pick<ControlPlaneCredentials, 'secret' | 'ca'>,
  deadlineMs = 10_000,
): SchedulerClient {
  const Service = loadService();
  const client = new Service(
    address,
    creds.ca ? grpc.credentials.createSsl(creds.ca) : grpc.credentials.createInsecure(),
  );
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${creds.secret}`);
  const out: Record<string, unknown> = { close: () => client.close() };
  for (const name of METHODS) {
    out[name] = (req: unknown) =>
      new Promise((resolve, reject) => {
        const fn = (client as unknown as Record<string, (...a: unknown[]) => void>)[name].bind(client);
        fn(
          req,
          metadata,
          { deadline: new Date(Date.now() + deadlineMs) },
          (err: Error | null, reply: unknown) => (err ? reject(err) : resolve(reply)),
        );
      });
  }
  return out as unknown as SchedulerClient;
}
