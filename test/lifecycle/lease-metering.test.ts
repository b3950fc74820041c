/**
 * Found by `npm run chaos` (metered time 26 % above the lease time seen): a worker killed while it
 * held a lease and started again under the same machine id before the lease expired asks for a new
 * lease, and the old one was closed then and billed up to that moment, its time dead included. It
 * is now billed up to its last heartbeat, as an expired lease is.
 */
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../packages/shared/src/logger.ts';
import { controlPlane } from '../../services/scheduler/src/control-plane.ts';
import { LeaseStore } from '../../services/scheduler/src/leases.ts';
import { useRedisTestDb, useTempDir } from '../support/helpers.ts';
import { type Harness, startHarness, WS } from './harness.ts';

const redisUrl = useRedisTestDb();

describe('lease metering', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness(redisUrl, await useTempDir('vb-lease-metering-'));
  });
  afterEach(async () => {
    await h?.close();
  });

  it('a machine back under its id after a crash is billed for its old lease up to its last heartbeat', async () => {
    await h.stageImages('in', 8);
    await h.createJob('m', 'in');
    await h.driver.drive(WS, 'm');
    let now = Date.now();
    const leases = new LeaseStore(h.redis, { now: () => now });
    const handlers = controlPlane({
      jobs: h.jobs,
      leases,
      queues: h.queues,
      driver: h.driver,
      logger: createLogger('test', 'silent'),
      meteredSeconds: new Counter({
        name: 'm',
        help: 'm',
        labelNames: ['pool'],
        registers: [new Registry()],
      }),
    });
    const first = await handlers.LeaseJob({ machine_id: 'w1', pool: 'cpu' });
    expect(first.granted).toBe(true);
    now += 3000;
    expect((await handlers.Heartbeat({ machine_id: 'w1', lease_id: first.lease_id })).keep_going).toBe(true);
    // killed now; back 7 s later under the same id, before anything expired its lease
    now += 7000;
    const second = await handlers.LeaseJob({ machine_id: 'w1', pool: 'cpu' });
    expect(second.lease_id).not.toBe(first.lease_id);
    expect(await leases.get(first.lease_id)).toBeNull();
    expect(await h.jobs.meter(WS, 'm')).toEqual({ cpuMs: 3000, gpuMs: 0 });
  });
});
