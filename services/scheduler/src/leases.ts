import { randomUUID } from 'node:crypto';
import { keys } from '@visionbatch/shared/redis-keys';
import type { Clock } from '@visionbatch/shared/time';
import type { Redis } from 'ioredis';

/** An open machine lease on a job. */
export interface Lease {
  leaseId: string;
  machineId: string;
  workspace: string;
  jobId: string;
  pool: 'cpu' | 'gpu';
  startedAt: number;
  lastHeartbeat: number;
}

// Closes a lease once: deletes it, bills (end - start) ms to the job's meter for its pool.
// KEYS: lease, leases zset, jobLeases, jobMeter, machine. ARGV: leaseId, end ms (0 = last heartbeat).
const CLOSE_LEASE = `
local h = redis.call('HMGET', KEYS[1], 'startedAt', 'lastHeartbeat', 'pool')
if not h[1] then return -1 end
local finish = tonumber(ARGV[2])
if finish == 0 then finish = tonumber(h[2]) end
local ms = math.max(0, finish - tonumber(h[1]))
redis.call('HINCRBY', KEYS[4], h[3], ms)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
if redis.call('HGET', KEYS[5], 'leaseId') == ARGV[1] then redis.call('HDEL', KEYS[5], 'leaseId') end
return ms
`;

/** A live machine and the lease it holds now (null: idle). */
export interface MachineState {
  machineId: string;
  leaseId: string | null;
}

/**
 * Machine leases and metering. A machine holds at most one lease (one job) at a time; the time
 * between grant and release (or the last heartbeat, when a machine vanishes) is billed to the
 * job for the lease's pool. Every transition is one transaction or script.
 */
export class LeaseStore {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
  ) {}

  async get(leaseId: string): Promise<Lease | null> {
    const h = await this.redis.hgetall(keys.lease(leaseId));
    if (!h.leaseId) return null;
    return {
      leaseId: h.leaseId,
      machineId: h.machineId,
      workspace: h.workspace,
      jobId: h.jobId,
      pool: h.pool as 'cpu' | 'gpu',
      startedAt: Number(h.startedAt),
      lastHeartbeat: Number(h.lastHeartbeat),
    };
  }

  /** The lease a machine holds now, if any. */
  async ofMachine(machineId: string): Promise<Lease | null> {
    const id = await this.redis.hget(keys.machine(machineId), 'leaseId');
    return id ? this.get(id) : null;
  }

  async countForJob(ws: string, jobId: string): Promise<number> {
    return this.redis.scard(keys.jobLeases(ws, jobId));
  }

  async grant(machineId: string, pool: 'cpu' | 'gpu', ws: string, jobId: string): Promise<Lease> {
    const now = this.clock.now();
    const lease: Lease = {
      leaseId: randomUUID(),
      machineId,
      workspace: ws,
      jobId,
      pool,
      startedAt: now,
      lastHeartbeat: now,
    };
    await this.redis
      .multi()
      .hset(keys.lease(lease.leaseId), { ...lease })
      .zadd(keys.leases(), String(now), lease.leaseId)
      .sadd(keys.jobLeases(ws, jobId), lease.leaseId)
      .hset(keys.machine(machineId), { pool, leaseId: lease.leaseId, lastHeartbeat: String(now) })
      .zadd(keys.poolMachines(pool), String(now), machineId)
      .exec();
    return lease;
  }

  /** Records a heartbeat; false when the lease no longer exists. */
  async heartbeat(machineId: string, leaseId: string): Promise<Lease | null> {
    const lease = await this.get(leaseId);
    if (!lease || lease.machineId !== machineId) return null;
    const now = this.clock.now();
    await this.redis
      .multi()
      .hset(keys.lease(leaseId), 'lastHeartbeat', String(now))
      .zadd(keys.leases(), String(now), leaseId)
      .hset(keys.machine(machineId), 'lastHeartbeat', String(now))
      .zadd(keys.poolMachines(lease.pool), String(now), machineId)
      .exec();
    return { ...lease, lastHeartbeat: now };
  }

  /** Notes that a machine without a lease is alive (for pool size accounting). */
  async machineSeen(machineId: string, pool: 'cpu' | 'gpu'): Promise<void> {
    const now = this.clock.now();
    await this.redis
      .multi()
      .hset(keys.machine(machineId), { pool, lastHeartbeat: String(now) })
      .zadd(keys.poolMachines(pool), String(now), machineId)
      .exec();
  }

  /** Closes a lease and bills it; returns the billed ms, or null if it was already closed. */
  async close(
    lease: Pick<Lease, 'leaseId' | 'machineId' | 'workspace' | 'jobId'>,
    atLastHeartbeat = false,
  ): Promise<number | null> {
    const ms = (await this.redis.eval(
      CLOSE_LEASE,
      5,
      keys.lease(lease.leaseId),
      keys.leases(),
      keys.jobLeases(lease.workspace, lease.jobId),
      keys.jobMeter(lease.workspace, lease.jobId),
      keys.machine(lease.machineId),
      lease.leaseId,
      atLastHeartbeat ? '0' : String(this.clock.now()),
    )) as number;
    return ms < 0 ? null : ms;
  }

  /** Leases whose last heartbeat is older than `ttlMs`. */
  async stale(ttlMs: number): Promise<Lease[]> {
    const ids = await this.redis.zrangebyscore(keys.leases(), '-inf', String(this.clock.now() - ttlMs));
    const out = await Promise.all(ids.map((id) => this.get(id)));
    return out.filter((l): l is Lease => l !== null);
  }

  async openForJob(ws: string, jobId: string): Promise<Lease[]> {
    const ids = await this.redis.smembers(keys.jobLeases(ws, jobId));
    const out = await Promise.all(ids.map((id) => this.get(id)));
    return out.filter((l): l is Lease => l !== null);
  }

  /**
   * Live machines of a pool (seen within `ttlMs`) with the lease each holds from the scheduler's
   * view (`null`: idle, safe to remove). The autoscaler shrinks a pool only by idle machines.
   */
  async poolMachines(pool: 'cpu' | 'gpu', ttlMs: number): Promise<MachineState[]> {
    const ids = await this.liveMachines(pool, ttlMs);
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(keys.machine(id), 'leaseId');
    const res = (await pipe.exec()) ?? [];
    return ids.map((machineId, i) => ({ machineId, leaseId: (res[i]?.[1] as string | null) || null }));
  }

  /** Forgets machines of a pool not seen for `olderThanMs` that hold no lease (they are gone). */
  async pruneMachines(pool: 'cpu' | 'gpu', olderThanMs: number): Promise<number> {
    const ids = await this.redis.zrangebyscore(
      keys.poolMachines(pool),
      '-inf',
      String(this.clock.now() - olderThanMs),
    );
    let pruned = 0;
    for (const id of ids) {
      if (await this.redis.hget(keys.machine(id), 'leaseId')) continue;
      await this.redis.multi().zrem(keys.poolMachines(pool), id).del(keys.machine(id)).exec();
      pruned++;
    }
    return pruned;
  }

  /** Live machines of a pool: heartbeat within `ttlMs`. */
  async liveMachines(pool: 'cpu' | 'gpu', ttlMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(keys.poolMachines(pool), String(this.clock.now() - ttlMs), '+inf');
  }
}
