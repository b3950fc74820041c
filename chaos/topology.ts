/**
 * The stack of a chaos run: Redis, the api, two scheduler replicas and `workers` worker machines,
 * each with fixed ports (so a restarted process is the same member of the stack), short leases,
 * locks and leader TTL so that a crash is noticed within seconds.
 */
import path from 'node:path';
import { freePort } from '../test/support/basics.ts';
import { ChaosStack } from './stack.ts';

export const CHAOS_WORKSPACE = 'chaos';
export const CHAOS_API_KEY = 'chaos-key';

export async function chaosStack(
  work: string,
  o: { workers: number; imagesPerTask: number },
): Promise<{ stack: ChaosStack; apiUrl: string; redisUrl: string }> {
  const [apiPort, redisPort] = [await freePort(), await freePort()];
  const schedulers = [];
  for (const i of [1, 2])
    schedulers.push({ name: `scheduler-${i}`, grpc: await freePort(), http: await freePort() });
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const stack = new ChaosStack(
    {
      VB_REDIS_URL: redisUrl,
      VB_DATA_DIR: path.join(work, 'data'),
      VB_API_PORT: String(apiPort),
      VB_API_KEYS: `${CHAOS_API_KEY}:${CHAOS_WORKSPACE}`,
      // grpc-js's ipv4 resolver with pick_first: a client moves to the next replica when one dies.
      VB_SCHEDULER_URL: `ipv4:${schedulers.map((s) => `127.0.0.1:${s.grpc}`).join(',')}`,
      VB_URL_ALLOWLIST: '127.0.0.1',
      VB_LOG_LEVEL: 'info',
      VB_SCHEDULER_TICK_MS: '200',
      VB_LEADER_TTL_MS: '2000',
      VB_LEASE_TTL_MS: '4000',
      VB_TASK_LOCK_MS: '3000',
      VB_TASK_ATTEMPTS: '10',
      VB_IMAGES_PER_TASK: String(o.imagesPerTask),
    },
    path.join(work, 'logs'),
    path.join(work, 'redis'),
  );
  stack.add({ name: 'redis', kind: 'redis', port: redisPort });
  stack.add({ name: 'api', kind: 'api', port: apiPort });
  for (const s of schedulers)
    stack.add({
      name: s.name,
      kind: 'scheduler',
      port: s.http,
      env: {
        VB_SCHEDULER_GRPC_PORT: String(s.grpc),
        VB_SCHEDULER_HTTP_PORT: String(s.http),
        VB_SCHEDULER_REPLICA_ID: s.name,
      },
    });
  for (let i = 1; i <= o.workers; i++) {
    const port = await freePort();
    stack.add({
      name: `worker-${i}`,
      kind: 'worker',
      port,
      env: { VB_WORKER_HTTP_PORT: String(port), VB_WORKER_ID: `worker-${i}`, VB_WORKER_SLOTS: '1' },
    });
  }
  return { stack, apiUrl: `http://127.0.0.1:${apiPort}`, redisUrl };
}

/** The workers' heartbeat interval under VB_LEASE_TTL_MS=4000 (machine.ts: min(1 s, TTL / 4)). */
export const CHAOS_HEARTBEAT_MS = 1000;
