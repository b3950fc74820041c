import { z } from 'zod';
import { IsoTimestamp } from './common.ts';

/** Wire shapes of the visionbatch endpoints that are not Roboflow's: webhook secret, machines, health. */

export const WebhookSecretResponse = z.object({
  workspace: z.string(),
  /** the `Authorization` value every webhook of the workspace carries */
  authorization: z.string(),
  source: z.enum(['generated', 'VB_PUBLISHABLE_KEYS']),
});

/** One open lease of a job of the caller's workspace: a machine working on it. */
export const MachineLeaseV1 = z
  .object({
    jobId: z.string(),
    machineId: z.string(),
    startedAt: IsoTimestamp,
    lastHeartbeat: IsoTimestamp,
  })
  .meta({ id: 'MachineLease' });

/**
 * A worker pool as the scheduler sees it: machines alive and busy (all workspaces: counts only),
 * what the autoscaler wants and has set, its measured throughput, and the leases of the caller's
 * own jobs.
 */
export const PoolStatusV1 = z
  .object({
    pool: z.enum(['cpu', 'gpu']),
    /** machines whose heartbeat is within the lease TTL */
    liveMachines: z.number().int(),
    /** live machines holding a lease (on any workspace's job) */
    busyMachines: z.number().int(),
    /** the autoscaler's last decision; null before its first round */
    desiredMachines: z.number().int().nullable(),
    /** the size the actuator has set; null before the autoscaler's first round */
    targetMachines: z.number().int().nullable(),
    /** files per machine-second the autoscaler uses (measured, else the configured default) */
    filesPerMachineSecond: z.number().nullable(),
    /** whether the throughput was measured (false: the configured default) */
    throughputMeasured: z.boolean(),
    /** when the autoscaler last sized the pool */
    updatedAt: IsoTimestamp.nullable(),
    leases: z.array(MachineLeaseV1),
  })
  .meta({ id: 'PoolStatus' });

export const MachinesResponse = z.object({ pools: z.array(PoolStatusV1) });

export const RootResponse = z.object({ workspace: z.string(), welcome: z.string(), docs: z.string() });
export const HealthResponse = z.object({ status: z.literal('ok') });
export const ReadyResponse = z.object({
  status: z.enum(['ready', 'not-ready']),
  error: z.string().optional(),
});
export const SignedUploadDone = z.object({ status: z.literal('ok'), size: z.number().int() });
