/**
 * `GET /visionbatch/v1/{ws}/machines` over real Redis, with leases granted and pool sizes published
 * by the scheduler's own LeaseStore: pool totals count every workspace's machines, the leases list
 * shows only the caller's jobs, and sizes are null until an autoscaler round published them.
 */
import { keys } from '@visionbatch/shared/redis-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseStore } from '../../services/scheduler/src/leases.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir } from '../support/helpers.ts';
import { type AppHarness, startApiHarness } from './app-harness.ts';

describe('machines route', () => {
  let h: AppHarness;
  let leases: LeaseStore;
  beforeAll(async () => {
    await flushRedisTestDb();
    h = await startApiHarness({ redisUrl: redisTestUrl(), store: { driver: 'fs', dir: await useTempDir() } });
    leases = new LeaseStore(h.redis, h.clock);
  });
  afterAll(() => h?.close());

  const get = async (key: string, ws: string) => {
    const res = await h.app.inject({ method: 'GET', url: `/visionbatch/v1/${ws}/machines?api_key=${key}` });
    expect(res.statusCode).toBe(200);
    return res.json().pools as Array<Record<string, any>>;
  };
  /** A running job as the lease script checks it (state and epoch). */
  const runningJob = (ws: string, jobId: string) =>
    h.redis.hset(keys.job(ws, jobId), { state: 'running', epoch: '0' });

  it('counts every machine of a pool, lists the leases of the caller’s jobs only', async () => {
    await runningJob('ws-a', 'job-a');
    await runningJob('ws-b', 'secret-job');
    expect((await leases.grant('m1', 'cpu', 'ws-a', 'job-a', 0, null)).ok).toBe(true);
    expect((await leases.grant('m2', 'cpu', 'ws-b', 'secret-job', 0, null)).ok).toBe(true);
    await leases.machineSeen('m3', 'cpu');
    await leases.machineSeen('g1', 'gpu');

    const poolsA = await get('key-a', 'ws-a');
    const cpu = poolsA.find((p) => p.pool === 'cpu');
    expect(cpu).toMatchObject({
      liveMachines: 3,
      busyMachines: 2,
      desiredMachines: null,
      targetMachines: null,
      updatedAt: null,
    });
    expect(cpu?.leases).toEqual([expect.objectContaining({ jobId: 'job-a', machineId: 'm1' })]);
    expect(poolsA.find((p) => p.pool === 'gpu')).toMatchObject({
      liveMachines: 1,
      busyMachines: 0,
      leases: [],
    });
    expect(JSON.stringify(poolsA)).not.toContain('secret-job');
    expect(JSON.stringify(poolsA)).not.toContain('m2');

    const poolsB = await get('key-b', 'ws-b');
    expect(poolsB.find((p) => p.pool === 'cpu')?.leases.map((l: { jobId: string }) => l.jobId)).toEqual([
      'secret-job',
    ]);
  });

  it('shows what the autoscaler published, and forgets machines past the lease TTL', async () => {
    await leases.notePoolStatus(
      'cpu',
      { desired: 4, target: 3, filesPerMachineSecond: 12.5, measured: true },
      60_000,
    );
    const cpu = (await get('key-a', 'ws-a')).find((p) => p.pool === 'cpu');
    expect(cpu).toMatchObject({
      desiredMachines: 4,
      targetMachines: 3,
      filesPerMachineSecond: 12.5,
      throughputMeasured: true,
    });
    expect(cpu?.updatedAt).toBe(new Date(h.clock.now()).toISOString());
    h.clock.t += h.config.leaseTtlMs + 1;
    expect((await get('key-a', 'ws-a')).find((p) => p.pool === 'cpu')).toMatchObject({
      liveMachines: 0,
      busyMachines: 0,
    });
  });

  it('is refused to another workspace’s key', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/visionbatch/v1/ws-b/machines?api_key=key-a' });
    expect(res.statusCode).toBe(403);
  });
});
