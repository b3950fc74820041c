/**
 * The autoscaler loop over real Redis state (jobs, stages, batches, leases): what it reads, what it
 * asks the actuator for, what it exports. The actuator here records the requests (the local and
 * kubernetes actuators have their own tests).
 */
import { BatchesRepo } from '@visionbatch/shared/batches-repo';
import { type AutoscalerConfig, loadConfig } from '@visionbatch/shared/config';
import { ActuatorError } from '@visionbatch/shared/errors';
import { type JobRecord, JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { keys } from '@visionbatch/shared/redis-keys';
import { Redis } from 'ioredis';
import { Counter, Gauge, Registry } from 'prom-client';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { flushRedisTestDb, redisTestUrl } from '../../../../test/support/helpers.ts';
import {
  createPlannedJob,
  endJobAsLeader,
  finishTaskAsLeader,
  imageJobDefinition,
} from '../../../../test/support/job-fixtures.ts';
import { LeaseStore } from '../leases.ts';
import type { Actuator, Pool, ScaleRequest } from './actuator.ts';
import { Autoscaler } from './autoscaler.ts';

const WS = 'ws1';
const TTL = 15_000;

class RecordingActuator implements Actuator {
  readonly kind = 'recording';
  sizes: Record<Pool, number> = { cpu: 0, gpu: 0 };
  requests: Array<{ pool: Pool } & ScaleRequest> = [];
  fail: ActuatorError | null = null;
  async size(pool: Pool) {
    return this.sizes[pool];
  }
  async scaleTo(pool: Pool, req: ScaleRequest) {
    this.requests.push({ pool, ...req });
    if (this.fail) throw this.fail;
    this.sizes[pool] = req.desired;
  }
  async close() {}
}

describe('autoscaler rounds', () => {
  const redis = new Redis(redisTestUrl());
  const clock = {
    t: 1_000_000,
    now() {
      return this.t;
    },
  };
  const jobs = new JobsRepo(redis, clock);
  const batches = new BatchesRepo(redis, clock, 3_600_000);
  const leases = new LeaseStore(redis, clock);
  let actuator: RecordingActuator;
  let registry: Registry;
  let scaler: Autoscaler;
  const config: AutoscalerConfig = {
    ...loadConfig({}).autoscaler,
    pools: { cpu: { min: 0, max: 3 }, gpu: { min: 0, max: 2 } },
    targetDrainMs: 10_000,
    scaleDownCooldownMs: 30_000,
    defaultFilesPerMachineSecond: 10,
  };
  const gauge = async (name: string, pool: Pool) =>
    (await (registry.getSingleMetric(name) as Gauge).get()).values.find((v) => v.labels.pool === pool)?.value;

  afterAll(() => redis.disconnect());
  beforeEach(async () => {
    await flushRedisTestDb();
    clock.t = 1_000_000;
    actuator = new RecordingActuator();
    registry = new Registry();
    const g = (name: string) => new Gauge({ name, help: name, labelNames: ['pool'], registers: [registry] });
    scaler = new Autoscaler({
      config,
      leaseTtlMs: TTL,
      jobs,
      batches,
      leases,
      actuator,
      clock,
      logger: createLogger('test', 'silent'),
      metrics: {
        desired: g('vb_pool_desired_machines'),
        target: g('vb_pool_target_machines'),
        throughput: g('vb_pool_files_per_machine_second'),
        errors: new Counter({
          name: 'vb_autoscaler_errors_total',
          help: 'e',
          labelNames: ['pool', 'reason'],
          registers: [registry],
        }),
      },
    });
  });

  /** A running job over `files` images in tasks of 8, planned. */
  async function runningJob(jobId: string, files: number, extra: Record<string, unknown> = {}) {
    const batchId = `in-${jobId}`;
    await batches.putFiles(
      WS,
      batchId,
      '',
      Array.from({ length: files }, (_, i) => ({
        name: `f${i}.jpg`,
        rec: { contentType: 'image/jpeg', size: 1 },
      })),
    );
    return createPlannedJob(jobs, redis, {
      ws: WS,
      jobId,
      definition: imageJobDefinition(WS, batchId, extra),
      createdAt: clock.now(),
      tasksNumber: Math.ceil(files / 8),
    });
  }

  async function finishTasks(jobId: string, from: number, to: number) {
    const rec = { workspace: WS, jobId, epoch: 0 };
    for (let i = from; i < to; i++) await finishTaskAsLeader(jobs, rec, `t${i}`, { ok: 8, failed: 0 });
  }
  const grant = (machine: string, jobId: string) => leases.grant(machine, 'cpu', WS, jobId, 0, null);

  it('sizes the pool by the backlog, capped by the pool max and by maxParallelTasks / workersPerMachine', async () => {
    // 160 files at 10 files/machine-s within 10 s: 2 machines
    await runningJob('small', 160);
    let [cpu, gpu] = await scaler.round();
    expect(cpu).toMatchObject({ pool: 'cpu', jobs: 1, remainingTasks: 20, remainingFiles: 160, desired: 2 });
    expect(gpu).toMatchObject({ pool: 'gpu', jobs: 0, desired: 0 });
    expect(actuator.requests).toEqual([{ pool: 'cpu', desired: 2, idleMachines: [], busyMachines: [] }]);
    expect(await gauge('vb_pool_desired_machines', 'cpu')).toBe(2);
    expect(await gauge('vb_pool_target_machines', 'cpu')).toBe(2);
    // published for the api's machines route (the console's Machines page)
    expect(await redis.hgetall(keys.poolStatus('cpu'))).toMatchObject({
      desired: '2',
      target: '2',
      filesPerMachineSecond: '10',
      measured: '0',
      updatedAt: String(clock.t),
    });
    expect(await redis.pttl(keys.poolStatus('cpu'))).toBeGreaterThan(0);
    // a big one on top: capped at the pool max
    await runningJob('big', 4_000);
    [cpu] = await scaler.round();
    expect(cpu.desired).toBe(3);
    expect(actuator.sizes.cpu).toBe(3);
    // a job capped at 1 machine by maxParallelTasks
    await flushRedisTestDb();
    await runningJob('capped', 4_000, { maxParallelTasks: 1 });
    clock.t += 60_000;
    [cpu] = await scaler.round();
    expect(cpu.desired).toBe(1);
  });

  it('shrinks only by lease-free machines, never below the busy ones, and to zero after the cooldown', async () => {
    await runningJob('j', 160);
    await scaler.round();
    expect(actuator.sizes.cpu).toBe(2);
    // two machines registered; m1 holds a lease on the job, m2 is idle
    await grant('m1', 'j');
    await leases.machineSeen('m2', 'cpu');
    await finishTasks('j', 0, 20);
    await endJobAsLeader(jobs, (await jobs.get(WS, 'j')) as JobRecord);
    // within the cooldown: no change
    clock.t += 5_000;
    await leases.machineSeen('m2', 'cpu');
    let [cpu] = await scaler.round();
    expect(cpu).toMatchObject({ desired: 2, busy: 1, live: 2 });
    expect(actuator.requests).toHaveLength(1);
    // after it: down to the busy machine, and m2 is the only one that may go
    clock.t += 30_000;
    await leases.heartbeat('m1', (await leases.ofMachine('m1'))?.leaseId ?? '');
    await leases.machineSeen('m2', 'cpu');
    [cpu] = await scaler.round();
    expect(cpu.desired).toBe(1);
    expect(actuator.requests.at(-1)).toEqual({
      pool: 'cpu',
      desired: 1,
      idleMachines: ['m2'],
      busyMachines: ['m1'],
    });
    // m1 releases its lease: to zero once the cooldown since the last change is over
    const lease = await leases.ofMachine('m1');
    if (lease) await leases.close(lease);
    clock.t += 10_000;
    await leases.machineSeen('m1', 'cpu');
    [cpu] = await scaler.round();
    expect(cpu.desired).toBe(1);
    clock.t += 30_000;
    await leases.machineSeen('m1', 'cpu');
    [cpu] = await scaler.round();
    expect(cpu.desired).toBe(0);
    expect(actuator.requests.at(-1)).toEqual({
      pool: 'cpu',
      desired: 0,
      idleMachines: ['m1'],
      busyMachines: [],
    });
    expect(await gauge('vb_pool_target_machines', 'cpu')).toBe(0);
  });

  it('sizes video jobs by their tasks (one machine-slot per video, frames unknown)', async () => {
    await runningJob('videos', 16, { type: 'simple-video-processing-v1' });
    const [cpu] = await scaler.round();
    expect(cpu).toMatchObject({ remainingTasks: 2, desired: 2 });
  });

  it('measures the throughput from finished files per leased machine-second', async () => {
    await runningJob('j', 800);
    await grant('m1', 'j');
    await grant('m2', 'j');
    await scaler.round();
    // 2 machines × 10 s, 400 files: 20 files per machine-second
    clock.t += 10_000;
    await finishTasks('j', 0, 50);
    const [cpu] = await scaler.round();
    expect(await gauge('vb_pool_files_per_machine_second', 'cpu')).toBe(20);
    // 400 files left at 20/machine-s within 10 s: 2 machines, but the pool (3) shrinks only after the cooldown
    expect(cpu).toMatchObject({ remainingFiles: 400, filesPerMachineSecond: 20, current: 3, desired: 3 });
    clock.t += 30_000;
    await leases.heartbeat('m1', (await leases.ofMachine('m1'))?.leaseId ?? '');
    await leases.heartbeat('m2', (await leases.ofMachine('m2'))?.leaseId ?? '');
    const [later] = await scaler.round();
    expect(later).toMatchObject({ remainingFiles: 400, desired: 2 });
  });

  it('an actuator that is forbidden is counted and logged, and the loop goes on', async () => {
    actuator.fail = new ActuatorError('forbidden', 'cpu', 'no rights');
    await runningJob('j', 160);
    const [cpu] = await scaler.round();
    expect(cpu.desired).toBe(2);
    await scaler.round();
    const errors = await (registry.getSingleMetric('vb_autoscaler_errors_total') as Counter).get();
    expect(errors.values.find((v) => v.labels.pool === 'cpu' && v.labels.reason === 'forbidden')?.value).toBe(
      2,
    );
    expect(await gauge('vb_pool_desired_machines', 'cpu')).toBe(2);
    expect(await gauge('vb_pool_target_machines', 'cpu')).toBe(0);
  });
});
