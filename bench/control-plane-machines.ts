/**
 * One process of simulated worker machines for `npm run bench -- control-plane`: VB_BENCH_MACHINES
 * instances of the worker's `Machine` (services/worker/src/machine.ts: leases, heartbeats, BullMQ
 * task locks, fenced task writes, result listings, export) with the simulated runner (the model step
 * is a no-op; results files and export archives are written for real). They share this process's
 * Redis connection and gRPC channel, as the slots of one worker share its process. Every LeaseJob and
 * Heartbeat is timed at the client. On `stop` (IPC) the machines drain, then the process sends its
 * samples, `[ms since epoch, latency ms]` per call, and exits.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '@visionbatch/shared/config';
import {
  controlPlaneCredentials,
  createSchedulerClient,
  type SchedulerClient,
} from '@visionbatch/shared/grpc';
import { JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { createObjectStore } from '@visionbatch/shared/object-store/index';
import { createRedis } from '@visionbatch/shared/redis';
import { systemClock } from '@visionbatch/shared/time';
import { Registry } from 'prom-client';
import { Machine } from '../services/worker/src/machine.ts';
import { workerMetrics } from '../services/worker/src/metrics.ts';
import { simulatedRunner } from '../services/worker/src/simulated-runner.ts';

export type TimedCall = 'LeaseJob' | 'Heartbeat';

/** What the process sends its parent when it stops. */
export interface MachineSamples {
  calls: Record<TimedCall, Array<[number, number]>>;
  /** p99 of this process's event-loop delay, ms: how much of a call's latency is the client's own wait */
  eventLoopDelayP99Ms: number;
}

const config = loadConfig();
const count = Number(process.env.VB_BENCH_MACHINES ?? 50);
const prefix = process.env.VB_BENCH_MACHINE_PREFIX ?? 'sim';
const logger = createLogger('bench-machines', config.logLevel);
const redis = createRedis(config.redis);
const store = await createObjectStore(config.store);
const client = createSchedulerClient(config.scheduler.url, controlPlaneCredentials(config), 10_000);
const samples: MachineSamples = { calls: { LeaseJob: [], Heartbeat: [] }, eventLoopDelayP99Ms: 0 };
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function timed(name: TimedCall): (req: never) => Promise<never> {
  const call = client[name] as (req: unknown) => Promise<never>;
  return async (req) => {
    const t = performance.now();
    const reply = await call(req);
    samples.calls[name].push([Date.now(), performance.now() - t]);
    return reply;
  };
}

const scheduler: SchedulerClient = { ...client, LeaseJob: timed('LeaseJob'), Heartbeat: timed('Heartbeat') };
const jobs = new JobsRepo(redis, systemClock, { maxLogLines: config.lifecycle.maxLogLines, maxEvents: 2000 });
const metrics = workerMetrics(new Registry());
const machines = Array.from(
  { length: count },
  (_, i) =>
    new Machine({
      config: loadConfig({ ...process.env, VB_WORKER_ID: `${prefix}-${i}` }),
      scheduler,
      connection: redis,
      jobs,
      logger,
      metrics,
      startRunner: simulatedRunner(store),
    }),
);
const running = machines.map((m) => m.run());
process.send?.({ ready: count });

process.on('message', async (msg) => {
  if (msg !== 'stop') return;
  await Promise.all(machines.map((m) => m.stop()));
  await Promise.all(running);
  samples.eventLoopDelayP99Ms = loopDelay.percentile(99) / 1e6;
  process.send?.({ samples }, () => {
    client.close();
    redis.disconnect();
    process.exit(0);
  });
});
