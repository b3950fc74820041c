/** Which job a free machine gets: fair share across running jobs, then the oldest. */

import type { JobRecord, JobsRepo } from '@visionbatch/shared/jobs-repo';
import { createLogger } from '@visionbatch/shared/logger';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { controlPlane } from './control-plane.ts';
import type { JobDriver } from './job-driver.ts';
import type { JobQueues } from './job-queues.ts';
import type { LeaseStore } from './leases.ts';

function job(jobId: string, createdAt: number, maxParallelTasks?: number): JobRecord {
  return {
    jobId,
    workspace: 'ws',
    name: jobId,
    definition: {
      type: 'simple-image-processing-v1',
      jobInput: { type: 'staging-batch-input-v1', batchId: 'b' },
      computeConfiguration: { type: 'compute-configuration-v2', machineType: 'cpu' },
      processingSpecification: {
        type: 'workflows-processing-specification-v1',
        workspace: 'ws',
        workflowId: 'wf',
      },
      ...(maxParallelTasks ? { maxParallelTasks } : {}),
    } as JobRecord['definition'],
    definitionHash: 'h',
    state: 'running',
    epoch: 0,
    currentStage: 'processing',
    plannedStages: ['processing', 'export'],
    error: false,
    isTerminal: false,
    lastNotification: null,
    restartOverrides: [],
    createdAt,
    lastUpdate: createdAt,
    endedAt: null,
    deadlineAt: null,
    logsDropped: 0,
  };
}

/** A control plane over in-memory jobs, leases and queues (every job has waiting tasks). */
function plane(records: JobRecord[]) {
  const leased = new Map<string, number>();
  const jobs = {
    activeJobs: async () => records.map((r) => ({ workspace: r.workspace, jobId: r.jobId })),
    get: async (_ws: string, id: string) => records.find((r) => r.jobId === id) ?? null,
    snapshot: async () => ({ workflow: { version: '1.0', inputs: [], steps: [], outputs: [] }, models: {} }),
  } as unknown as JobsRepo;
  const leases = {
    ofMachine: async () => null,
    machineSeen: async () => {},
    countForJob: async (_ws: string, id: string) => leased.get(id) ?? 0,
    grant: async (machineId: string, pool: 'cpu' | 'gpu', workspace: string, jobId: string) => {
      leased.set(jobId, (leased.get(jobId) ?? 0) + 1);
      return {
        ok: true,
        lease: {
          leaseId: `l-${machineId}`,
          machineId,
          workspace,
          jobId,
          epoch: 0,
          pool,
          startedAt: 0,
          lastHeartbeat: 0,
        },
      };
    },
  } as unknown as LeaseStore;
  const queues = { pending: async () => ({ waiting: 10, active: 0 }) } as unknown as JobQueues;
  const handlers = controlPlane({
    jobs,
    leases,
    queues,
    driver: {} as JobDriver,
    logger: createLogger('test', 'silent'),
    meteredSeconds: new Counter({ name: 'x', help: 'x', labelNames: ['pool'], registers: [new Registry()] }),
  });
  return async (machine: string) => (await handlers.LeaseJob({ machine_id: machine, pool: 'cpu' })).job_id;
}

describe('LeaseJob', () => {
  it('shares machines across running jobs: each new machine goes to the job holding the fewest', async () => {
    const lease = plane([job('newer', 2000), job('older', 1000)]);
    const got = [];
    for (let m = 1; m <= 5; m++) got.push(await lease(`m${m}`));
    // ties go to the oldest job; a second job is never starved while the first has queued work
    expect(got).toEqual(['older', 'newer', 'older', 'newer', 'older']);
  });

  it("respects each job's machine cap (maxParallelTasks / workersPerMachine)", async () => {
    const lease = plane([job('capped', 1000, 1), job('other', 2000)]);
    const got = [];
    for (let m = 1; m <= 4; m++) got.push(await lease(`m${m}`));
    expect(got).toEqual(['capped', 'other', 'other', 'other']);
  });
});
