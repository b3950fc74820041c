import { keys } from '@visionbatch/shared/redis-keys';
import { iso } from '@visionbatch/shared/time';
import type { MachinesResponse } from '@visionbatch/shared/wire/visionbatch';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { ApiDeps } from '../deps.ts';

type Pools = z.infer<typeof MachinesResponse>['pools'];
const POOLS = ['cpu', 'gpu'] as const;

const numOrNull = (v: string | undefined) => (v === undefined ? null : Number(v));

/**
 * The worker pools as the scheduler keeps them in Redis: live machines (heartbeat within the
 * lease TTL) and how many hold a lease, the autoscaler's last sizes and throughput, and the open
 * leases of the caller's jobs. Machines and leases of other workspaces count in the pool totals
 * only: no job id or machine of another workspace is shown.
 */
export async function readPools(
  redis: Redis,
  workspace: string,
  now: number,
  leaseTtlMs: number,
): Promise<Pools> {
  const leaseIds = await redis.zrange(keys.leases(), '0', '-1');
  const leasePipe = redis.pipeline();
  for (const id of leaseIds) leasePipe.hgetall(keys.lease(id));
  const leases = ((await leasePipe.exec()) ?? [])
    .map(([, h]) => h as Record<string, string>)
    .filter((h) => h?.leaseId && h.workspace === workspace);
  const out: Pools = [];
  for (const pool of POOLS) {
    const live = await redis.zrangebyscore(keys.poolMachines(pool), String(now - leaseTtlMs), '+inf');
    const pipe = redis.pipeline();
    for (const id of live) pipe.hget(keys.machine(id), 'leaseId');
    const busy = ((await pipe.exec()) ?? []).filter(([, v]) => typeof v === 'string' && v !== '').length;
    const status = await redis.hgetall(keys.poolStatus(pool));
    out.push({
      pool,
      liveMachines: live.length,
      busyMachines: busy,
      desiredMachines: numOrNull(status.desired),
      targetMachines: numOrNull(status.target),
      filesPerMachineSecond: numOrNull(status.filesPerMachineSecond),
      throughputMeasured: status.measured === '1',
      updatedAt: status.updatedAt ? iso(Number(status.updatedAt)) : null,
      leases: leases
        .filter((l) => l.pool === pool)
        .map((l) => ({
          jobId: l.jobId,
          machineId: l.machineId,
          startedAt: iso(Number(l.startedAt)),
          lastHeartbeat: iso(Number(l.lastHeartbeat)),
        }))
        .sort((a, b) => a.jobId.localeCompare(b.jobId) || a.startedAt.localeCompare(b.startedAt)),
    });
  }
  return out;
}

/** `GET /visionbatch/v1/{ws}/machines`: what the console's Machines page shows. */
export function machinesRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { workspace: string } }>('/visionbatch/v1/:workspace/machines', async (req) => ({
    pools: await readPools(deps.redis, req.workspace, deps.clock.now(), deps.config.leaseTtlMs),
  }));
}
