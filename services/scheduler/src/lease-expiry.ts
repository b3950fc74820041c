import type { Logger } from '@visionbatch/shared/logger';
import type { Counter } from 'prom-client';
import type { LeaseStore } from './leases.ts';

/**
 * Closes the leases of machines that stopped heartbeating (billing stops at their last heartbeat).
 * A replica that has led for less than one lease TTL expires nothing: while no scheduler was up (a
 * rollout, a failover) no machine could heartbeat, and its leases are live; they get one TTL to
 * heartbeat to the new leader first. Returns how many leases were closed.
 */
export async function expireStaleLeases(
  leases: LeaseStore,
  ttlMs: number,
  ledForMs: number,
  logger: Logger,
  expired: Counter<'pool'>,
): Promise<number> {
  if (ledForMs < ttlMs) return 0;
  let closed = 0;
  for (const lease of await leases.stale(ttlMs)) {
    const ms = await leases.close(lease, true);
    if (ms === null) continue;
    closed++;
    expired.inc({ pool: lease.pool });
    logger.warn(
      { leaseId: lease.leaseId, machineId: lease.machineId, jobId: lease.jobId, billedMs: ms },
      'lease expired',
    );
  }
  return closed;
}
