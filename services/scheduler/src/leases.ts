import { randomUUID } from 'node:crypto';
import { runScript } from '@visionbatch/shared/lifecycle/scripts';
import type { Refusal } from '@visionbatch/shared/lifecycle/states';
import { keys } from '@visionbatch/shared/redis-keys';
import type { Clock } from '@visionbatch/shared/time';
import type { Redis } from 'ioredis';

/** An open machine lease on a job. */
export interface Lease {
  leaseId: string;
  machineId: string;
  workspace: string;
  jobId: string;
  /** the job's epoch when the lease was granted; the lease ends when the job restarts */
  epoch: number;
  pool: 'cpu' | 'gpu';
  startedAt: number;
  lastHeartbeat: number;
}

/** A live machine and the lease it holds now (null: idle). */
export interface MachineState {
  machineId: string;
  leaseId: string | null;
}

/**
 * Machine leases and metering. A machine holds at most one lease (one job) at a time; the time
 * between grant and release (or the last heartbeat, when a machine vanishes) is billed to the
 * job for the lease's pool. Every move of a lease is one script (shared lifecycle/commands/*Lease.lua).
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
      epoch: Number(h.epoch ?? 0),
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

  /**
   * Grants a lease on a job, in one script that checks the job still runs at `epoch`, that fewer
   * than `cap` machines hold it (concurrent grants never over-grant) and that the machine holds no
   * other lease.
   */
  async grant(
    machineId: string,
    pool: 'cpu' | 'gpu',
    ws: string,
    jobId: string,
    epoch: number,
    cap: number | null,
  ): Promise<{ ok: true; lease: Lease } | { ok: false; refusal: Refusal }> {
    const now = this.clock.now();
    const lease: Lease = {
      leaseId: randomUUID(),
      machineId,
      workspace: ws,
      jobId,
      epoch,
      pool,
      startedAt: now,
      lastHeartbeat: now,
    };
    const [status] = await runScript<[string]>(
      this.redis,
      'grantLease',
      [
        keys.job(ws, jobId),
        keys.jobLeases(ws, jobId),
        keys.lease(lease.leaseId),
        keys.leases(),
        keys.machine(machineId),
        keys.poolMachines(pool),
      ],
      [now, lease.leaseId, machineId, pool, ws, jobId, epoch, cap ?? -1],
    );
    return status === 'ok' ? { ok: true, lease } : { ok: false, refusal: status as Refusal };
  }

  /** Records a heartbeat; null when the lease is closed (or not this machine's): nothing is written then. */
  async heartbeat(
    machineId: string,
    leaseId: string,
  ): Promise<{ workspace: string; jobId: string; epoch: number } | null> {
    const r = await runScript<string[]>(
      this.redis,
      'heartbeat',
      [
        keys.lease(leaseId),
        keys.leases(),
        keys.machine(machineId),
        keys.poolMachines('cpu'),
        keys.poolMachines('gpu'),
      ],
      [this.clock.now(), leaseId, machineId],
    );
    return r[0] === 'ok' ? { workspace: r[1], jobId: r[2], epoch: Number(r[3]) } : null;
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
    const ms = await runScript<number>(
      this.redis,
      'closeLease',
      [
        keys.lease(lease.leaseId),
        keys.leases(),
        keys.jobLeases(lease.workspace, lease.jobId),
        keys.jobMeter(lease.workspace, lease.jobId),
        keys.machine(lease.machineId),
      ],
      [lease.leaseId, atLastHeartbeat ? '0' : String(this.clock.now())],
    );
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

  /**
   * Publishes the autoscaler's view of a pool for the api's machines route; it expires after
   * `ttlMs`, so a pool no leader sizes any more shows no stale sizes.
   */
  async notePoolStatus(
    pool: 'cpu' | 'gpu',
    status: { desired: number; target: number; filesPerMachineSecond: number; measured: boolean },
    ttlMs: number,
  ): Promise<void> {
    await this.redis
      .multi()
      .hset(keys.poolStatus(pool), {
        desired: String(status.desired),
        target: String(status.target),
        filesPerMachineSecond: String(status.filesPerMachineSecond),
        measured: status.measured ? '1' : '0',
        updatedAt: String(this.clock.now()),
      })
      .pexpire(keys.poolStatus(pool), ttlMs)
      .exec();
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
