import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

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
}
export interface HeartbeatRequest {
  machine_id: string;
  lease_id: string;
}
export interface HeartbeatReply {
  keep_going: boolean;
}
export interface ReleaseRequest {
  machine_id: string;
  lease_id: string;
  reason: string;
}

/** What the scheduler implements. */
export interface SchedulerHandlers {
  SubmitJob(req: JobRef): Promise<Ack>;
  AbortJob(req: JobRef): Promise<Ack>;
  RestartJob(req: JobRef): Promise<Ack>;
  LeaseJob(req: LeaseRequest): Promise<LeaseReply>;
  Heartbeat(req: HeartbeatRequest): Promise<HeartbeatReply>;
  ReleaseLease(req: ReleaseRequest): Promise<Ack>;
}

/** Promise-returning client of the scheduler. */
export type SchedulerClient = SchedulerHandlers & { close(): void };

const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'proto', 'scheduler.proto');

function loadService(): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    visionbatch: { v1: { Scheduler: grpc.ServiceClientConstructor } };
  };
  return pkg.visionbatch.v1.Scheduler;
}

const METHODS = ['SubmitJob', 'AbortJob', 'RestartJob', 'LeaseJob', 'Heartbeat', 'ReleaseLease'] as const;

/** Starts a gRPC server for the handlers; resolves with the bound port. */
export async function startSchedulerServer(
  handlers: SchedulerHandlers,
  host: string,
  port: number,
): Promise<{ server: grpc.Server; port: number }> {
  const Service = loadService();
  const server = new grpc.Server();
  const impl: grpc.UntypedServiceImplementation = {};
  for (const name of METHODS) {
    impl[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      (handlers[name] as (r: unknown) => Promise<unknown>)(call.request).then(
        (reply) => cb(null, reply),
        (err: Error) =>
          cb({ code: grpc.status.INTERNAL, details: err.message, name: err.name, message: err.message }),
      );
    };
  }
  server.addService(Service.service, impl);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port: bound };
}

/** A client whose calls time out after `deadlineMs`. */
export function createSchedulerClient(address: string, deadlineMs = 10_000): SchedulerClient {
  const Service = loadService();
  const client = new Service(address, grpc.credentials.createInsecure());
  const out: Record<string, unknown> = { close: () => client.close() };
  for (const name of METHODS) {
    out[name] = (req: unknown) =>
      new Promise((resolve, reject) => {
        const fn = (client as unknown as Record<string, (...a: unknown[]) => void>)[name].bind(client);
        fn(req, { deadline: new Date(Date.now() + deadlineMs) }, (err: Error | null, reply: unknown) =>
          err ? reject(err) : resolve(reply),
        );
      });
  }
  return out as unknown as SchedulerClient;
}
