/**
 * Races of the job lifecycle against real Redis: concurrent lease grants, heartbeats racing a lease's
 * close, aborts racing planning and export, two drivers on one job, zombie attempts after a restart.
 * Each replays a bug of the unfenced read-then-write code these moves replaced.
 */
import type { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { abortJob } from '../../packages/shared/src/job-ending.ts';
import type { TaskAttempt } from '../../packages/shared/src/jobs-repo.ts';
import { jobQueueName, taskLockKey } from '../../packages/shared/src/queues.ts';
import { keys } from '../../packages/shared/src/redis-keys.ts';
import { JobQueues } from '../../services/scheduler/src/job-queues.ts';
import { useRedisTestDb, useTempDir, waitFor } from '../support/helpers.ts';
import { type Harness, queueKeys, startHarness, WS } from './harness.ts';

const redisUrl = useRedisTestDb();

/** Job queues whose `addBulk` waits at call number `n` until `release()` (to land an abort mid-plan). */
class GatedQueues extends JobQueues {
  calls = 0;
  reached!: Promise<void>;
  private onReached!: () => void;
  private gate: Promise<void>;
  release!: () => void;
  constructor(
    connection: ConstructorParameters<typeof JobQueues>[0],
    private readonly at: number,
  ) {
    super(connection);
    this.reached = new Promise((r) => (this.onReached = r));
    this.gate = new Promise((r) => (this.release = r));
  }
  private readonly wrapped = new WeakSet<Queue>();
  override get(ws: string, jobId: string, epoch: number): Queue {
    const q = super.get(ws, jobId, epoch);
    if (this.wrapped.has(q)) return q;
    this.wrapped.add(q);
    const original = q.addBulk.bind(q);
    q.addBulk = (async (jobs: Parameters<Queue['addBulk']>[0]) => {
      if (++this.calls === this.at) {
        this.onReached();
        await this.gate;
      }
      return original(jobs);
    }) as Queue['addBulk'];
    return q;
  }
}

describe('lifecycle races (real Redis)', () => {
  let h: Harness;
  let storeDir: string;
  beforeEach(async () => {
    storeDir = await useTempDir('vb-races-');
  });
  afterEach(async () => {
    await h?.close();
  });

  it('100 concurrent lease requests never grant more machines than the job cap', async () => {
    h = await startHarness(redisUrl, storeDir);
    await h.stageImages('in', 40);
    // maxParallelTasks 6 over 2 slots a machine: at most 3 machines
    await h.createJob('capped', 'in', { maxParallelTasks: 6 });
    await h.driver.drive(WS, 'capped');
    expect((await h.jobs.getStage(WS, 'capped', 'processing'))?.state).toBe('running');
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => h.handlers.LeaseJob({ machine_id: `m${i}`, pool: 'cpu' })),
    );
    expect(replies.filter((r) => r.granted)).toHaveLength(3);
    expect(await h.redis.scard(keys.jobLeases(WS, 'capped'))).toBe(3);
  });

  it('a heartbeat after (or racing) the close of its lease changes nothing', async () => {
    h = await startHarness(redisUrl, storeDir);
    await h.stageImages('in', 8);
    await h.createJob('j', 'in');
    await h.driver.drive(WS, 'j');
    for (let i = 0; i < 30; i++) {
      const r = await h.handlers.LeaseJob({ machine_id: `m${i}`, pool: 'cpu' });
      expect(r.granted).toBe(true);
      const lease = await h.leases.get(r.lease_id);
      if (!lease) throw new Error('no lease');
      // close and heartbeat at once, in both orders
      const close = h.leases.close(lease);
      const beat = h.handlers.Heartbeat({ machine_id: `m${i}`, lease_id: r.lease_id });
      await Promise.all([close, beat]);
      const late = await h.handlers.Heartbeat({ machine_id: `m${i}`, lease_id: r.lease_id });
      expect(late.keep_going).toBe(false);
      expect(await h.redis.exists(keys.lease(r.lease_id))).toBe(0);
      expect(await h.redis.zscore(keys.leases(), r.lease_id)).toBeNull();
      expect(await h.redis.hget(keys.machine(`m${i}`), 'leaseId')).toBeNull();
    }
    expect(await h.redis.scard(keys.jobLeases(WS, 'j'))).toBe(0);
  });

  it('a zombie attempt of the old epoch changes nothing after an abort and a restart', async () => {
    h = await startHarness(redisUrl, storeDir);
    await h.stageImages('in', 8);
    await h.createJob('z', 'in');
    await h.driver.drive(WS, 'z');
    const queue = jobQueueName(WS, 'z', 0);
    const lockKey = taskLockKey(queue, 'processing-t000000');
    await h.redis.set(lockKey, 'token-a');
    const zombie: TaskAttempt = {
      workspace: WS,
      jobId: 'z',
      epoch: 0,
      stage: 'processing',
      taskId: 't000000',
      lock: { key: lockKey, token: 'token-a' },
    };
    expect((await h.jobs.taskStart(zombie, 'running')).ok).toBe(true);
    expect(await abortJob(h.jobs, WS, 'z')).toBe('aborted');
    // the abort closed the running task in the same move
    const [cancelled] = (await h.jobs.tasks(WS, 'z', 'processing', null, 10)).items;
    expect(cancelled).toMatchObject({ taskId: 't000000', state: 'cancelled', statusType: 'error' });
    const restarted = await h.jobs.restart(WS, 'z', { type: 'parameters-override-v1' }, null);
    expect(restarted).toMatchObject({ ok: true, epoch: 1, stage: 'processing' });
    // the zombie keeps its lock (its queue's key) and writes with its old epoch: refused, nothing lands
    const progress = await h.jobs.taskProgress(zombie, 0.5, 'still going');
    const finish = await h.jobs.taskFinish(zombie, {
      ok: true,
      notification: 'zombie',
      files: { ok: 4, failed: 0 },
      outputs: [
        { batchId: 'z-processing', part: 'results', files: [{ name: 't000000.jsonl', rec: { size: 1 } }] },
      ],
    });
    expect(progress).toMatchObject({ ok: false, refusal: 'stale-epoch' });
    expect(finish).toMatchObject({ ok: false, refusal: 'stale-epoch' });
    expect(await h.jobs.doneTaskIds(WS, 'z', 'processing')).toEqual(new Set());
    expect(await h.jobs.stageFileCounts(WS, 'z', 'processing')).toEqual({ ok: 0, failed: 0 });
    expect(await h.batches.count(WS, 'z-processing', 'results')).toBe(0);
    // an attempt that lost its lock to a newer one is refused too
    const newQueue = jobQueueName(WS, 'z', 1);
    const newLock = taskLockKey(newQueue, 'processing-t000000');
    await h.redis.set(newLock, 'token-b');
    const current: TaskAttempt = { ...zombie, epoch: 1, lock: { key: newLock, token: 'token-b' } };
    const usurper: TaskAttempt = { ...current, lock: { key: newLock, token: 'token-a' } };
    expect(await h.jobs.taskStart(usurper, 'x')).toMatchObject({ ok: false, refusal: 'lost-lock' });
    // the current attempt writes
    expect((await h.jobs.taskStart(current, 'running')).ok).toBe(true);
    expect(
      (await h.jobs.taskFinish(current, { ok: true, notification: 'ok', files: { ok: 4, failed: 0 } })).ok,
    ).toBe(true);
    expect(await h.jobs.doneTaskIds(WS, 'z', 'processing')).toEqual(new Set(['t000000']));
    expect(h.refusals.get('taskFinish:stale-epoch')).toBe(1);
  });

  it('an abort during planning stops the plan and leaves no queue behind', async () => {
    let gated: GatedQueues | undefined;
    h = await startHarness(redisUrl, storeDir, {
      env: { VB_IMAGES_PER_TASK: '1' },
      addChunk: 10,
      makeQueues: (connection) => {
        gated = new GatedQueues(connection, 3);
        return gated;
      },
    });
    await h.stageImages('in', 100);
    await h.createJob('p', 'in');
    const planning = h.driver.drive(WS, 'p');
    await gated?.reached;
    // two chunks are on the queue, the third is about to be added: abort now
    expect(await abortJob(h.jobs, WS, 'p')).toBe('aborted');
    await h.reaper.reap();
    gated?.release();
    await planning;
    const rec = await h.jobs.get(WS, 'p');
    expect(rec?.state).toBe('aborted');
    expect((await h.jobs.getStage(WS, 'p', 'processing'))?.state).toBe('aborted');
    // the planner added its third chunk after the outbox had removed the queue: it removed it again
    expect(gated?.calls).toBe(3);
    expect(await queueKeys(h.redis, 'p')).toEqual([]);
    expect(await h.redis.hlen(keys.outbox())).toBe(0);
    expect(h.refusals.get('endPlan:job-not-running') ?? 0).toBe(0);
  });

  it('an abort during export planning stops it and leaves no queue behind', async () => {
    let gated: GatedQueues | undefined;
    h = await startHarness(redisUrl, storeDir, {
      env: { VB_IMAGES_PER_TASK: '1' },
      addChunk: 1,
      makeQueues: (connection) => {
        // processing adds 300 tasks in 300 calls; export's third archive is call 303
        gated = new GatedQueues(connection, 303);
        return gated;
      },
    });
    await h.stageImages('in', 300);
    await h.createJob('x', 'in');
    const machines = h.startMachines(2);
    const driving = (async () => {
      while (!(await h.jobs.get(WS, 'x'))?.isTerminal) {
        await h.driver.drive(WS, 'x');
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await gated?.reached;
    expect((await h.jobs.getStage(WS, 'x', 'export'))?.state).toBe('planning');
    expect(await abortJob(h.jobs, WS, 'x')).toBe('aborted');
    await h.reaper.reap();
    gated?.release();
    await driving;
    await machines.stop();
    expect((await h.jobs.get(WS, 'x'))?.state).toBe('aborted');
    expect((await h.jobs.getStage(WS, 'x', 'processing'))?.state).toBe('succeeded');
    expect((await h.jobs.getStage(WS, 'x', 'export'))?.state).toBe('aborted');
    await waitFor(async () => (await queueKeys(h.redis, 'x')).length === 0, { timeoutMs: 10_000 });
    expect(await h.jobs.runningTaskIds(WS, 'x', 'export')).toEqual([]);
  });

  it('two drivers on one job (a stale leader and the leader; or two at once) end it once, with one webhook entry', async () => {
    h = await startHarness(redisUrl, storeDir);
    await h.stageImages('in', 24);
    for (const jobId of ['stale', 'twice']) {
      await h.createJob(jobId, 'in', { notificationsURL: 'http://hooks.example/' });
      const drivers =
        jobId === 'stale'
          ? [h.driver, h.driverWithToken(() => 'old-leader:0')]
          : [h.driver, h.driverWithToken(() => h.leader.token)];
      const machines = h.startMachines(2);
      const entries = new Set<string>();
      while (!(await h.jobs.get(WS, jobId))?.isTerminal) {
        await Promise.all(drivers.map((d) => d.drive(WS, jobId)));
        for (const id of await h.redis.hkeys(keys.outbox())) entries.add(id);
      }
      await machines.stop();
      const rec = await h.jobs.get(WS, jobId);
      expect(rec?.state).toBe('succeeded');
      expect([...entries]).toEqual([`job-ended:${WS}/${jobId}:e0`]);
      const logs = (await h.jobs.logs(WS, jobId, null, null, 1000)).items.map((l) => l.logType);
      expect(logs.filter((t) => t === 'job-succeeded')).toHaveLength(1);
      expect(logs.filter((t) => t === 'stage-started')).toHaveLength(2);
      expect(logs.filter((t) => t === 'stage-finished')).toHaveLength(2);
      await h.reaper.reap();
      expect(await h.redis.hlen(keys.outbox())).toBe(0);
    }
    // the stale leader's moves were all refused
    expect([...h.refusals.keys()].some((k) => k.endsWith(':not-leader'))).toBe(true);
  });
});
