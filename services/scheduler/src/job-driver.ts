import { effectiveDefinition } from '@visionbatch/shared/effective-definition';
import { endJob, type JobEnd } from '@visionbatch/shared/job-ending';
import type { Fence, JobRecord, JobsRepo, StageRecord } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import type { Task } from '@visionbatch/shared/tasks';
import type { Clock } from '@visionbatch/shared/time';
import type { FaultPoints } from './fault-points.ts';
import type { JobQueues } from './job-queues.ts';
import type { Planner } from './planner.ts';

export interface DriverDeps {
  jobs: JobsRepo;
  queues: JobQueues;
  planner: Planner;
  clock: Clock;
  logger: Logger;
  faults: FaultPoints;
  /** the leader token held now; null when this replica does not lead (it then drives nothing) */
  leaderToken: () => string | null;
}

/**
 * Drives every active job through its stages. Each call of {@link drive} looks at what a job is
 * now and makes the one move that follows (plan a stage, complete it, end the job); every move is a
 * fenced script, so a crash between moves, a second driver or a stale leader never does a move
 * twice, and the next drive simply continues from what it finds. Jobs are driven independently:
 * a slow plan of one job never holds back another.
 */
export class JobDriver {
  private readonly busy = new Map<string, Promise<void>>();

  constructor(private readonly d: DriverDeps) {}

  /** Starts a drive of every active job not already being driven; does not wait for them. */
  async tick(): Promise<void> {
    if (!this.d.leaderToken()) return;
    for (const { workspace, jobId } of await this.d.jobs.activeJobs()) this.poke(workspace, jobId);
  }

  /** Drives one job now unless a drive of it is in progress. */
  poke(ws: string, jobId: string): void {
    const k = `${ws}/${jobId}`;
    if (this.busy.has(k) || !this.d.leaderToken()) return;
    const p = this.drive(ws, jobId)
      .catch((err) =>
        this.d.logger.error({ err, workspace: ws, jobId }, 'job step failed; retrying on the next tick'),
      )
      .finally(() => this.busy.delete(k));
    this.busy.set(k, p);
  }

  /** Waits for the drives in progress (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.busy.size > 0) await Promise.all([...this.busy.values()]);
  }

  /** Makes the next move(s) of one job. */
  async drive(ws: string, jobId: string): Promise<void> {
    for (let step = 0; step < 4; step++) {
      const token = this.d.leaderToken();
      if (!token) return;
      const rec = await this.d.jobs.get(ws, jobId);
      if (!rec || rec.isTerminal) return;
      if (!(await this.step(rec, { epoch: rec.epoch, leaderToken: token }))) return;
    }
  }

  /** One move; true when another may follow right away (a stage completed). */
  private async step(rec: JobRecord, fence: Fence): Promise<boolean> {
    const { workspace: ws, jobId } = rec;
    const def = effectiveDefinition(rec.definition, rec.restartOverrides);
    if (rec.deadlineAt !== null && this.d.clock.now() > rec.deadlineAt) {
      await this.end(rec, fence, {
        state: 'failed',
        notification: `processing timeout of ${def.processingTimeoutSeconds} s exceeded`,
        logType: 'processing-timeout',
      });
      return false;
    }
    const stage = rec.currentStage ? await this.d.jobs.getStage(ws, jobId, rec.currentStage) : null;
    if (!stage || stage.state === 'planning') {
      await this.plan(rec, fence, stage?.processingStageName ?? 'processing');
      return false;
    }
    if (stage.state === 'succeeded') return this.afterStage(rec, fence, stage);
    if (stage.state === 'failed') {
      await this.end(rec, fence, {
        state: 'failed',
        notification: `${stage.processingStageName} stage failed: ${typeof stage.notification === 'string' ? stage.notification : 'see the logs'}`,
        logType: 'stage-failed',
      });
      return false;
    }
    if (stage.state !== 'running') return false;
    const r = await this.d.jobs.completeStage(ws, jobId, fence, stage.processingStageId);
    if (r.ok) {
      if (r.outcome === 'failed') {
        await this.end(rec, fence, {
          state: 'failed',
          notification: `${r.failed} of ${stage.tasksNumber} tasks of stage ${stage.processingStageName} failed (${r.filesFailed} files failed)`,
          logType: 'stage-failed',
        });
        return false;
      }
      return true;
    }
    if (r.refusal === 'incomplete' && 'done' in r) await this.watchStage(rec, fence, stage, r.done, r.failed);
    return false;
  }

  private async plan(rec: JobRecord, fence: Fence, stage: string): Promise<void> {
    if (stage === 'export') await this.d.planner.planExport(rec, fence);
    else await this.d.planner.planProcessing(rec, fence);
  }

  /** A stage succeeded: plan the next one, or end the job when it was the last. */
  private async afterStage(rec: JobRecord, fence: Fence, stage: StageRecord): Promise<boolean> {
    if (stage.processingStageName === 'processing') {
      await this.d.planner.planExport(rec, fence);
      return false;
    }
    await this.end(rec, fence, {
      state: 'succeeded',
      notification: 'job finished successfully',
      logType: 'job-succeeded',
      severity: 'info',
    });
    return false;
  }

  private async end(
    rec: JobRecord,
    fence: Fence,
    end: Pick<JobEnd, 'state' | 'notification' | 'logType'> & Partial<JobEnd>,
  ): Promise<void> {
    const r = await endJob(
      this.d.jobs,
      rec,
      {
        severity: end.state === 'succeeded' ? 'info' : 'error',
        module: 'scheduler',
        payload: end.state === 'succeeded' ? {} : { reason: end.notification },
        ...end,
      },
      fence,
    );
    if (!r.ok) return;
    this.d.logger.info({ workspace: rec.workspace, jobId: rec.jobId, state: end.state }, 'job ended');
    await this.d.faults.hit('after-terminal-write');
  }

  /** Ends a job from outside the reconcile loop (a job context that cannot be built). */
  async fail(rec: JobRecord, reason: string, logType: string): Promise<void> {
    await this.end(rec, { epoch: rec.epoch }, { state: 'failed', notification: reason, logType });
  }

  /**
   * A running stage with unaccounted tasks. While its queue has work, only the progress text moves.
   * With an idle queue, tasks were lost (a crash between steps) or failed inside BullMQ without
   * reaching our accounting (a machine died too often): record BullMQ's failures, re-plan what is
   * missing.
   */
  private async watchStage(
    rec: JobRecord,
    fence: Fence,
    stage: StageRecord,
    done: number,
    failed: number,
  ): Promise<void> {
    const { workspace: ws, jobId } = rec;
    const q = await this.d.queues.pending(ws, jobId, rec.epoch);
    if (q.waiting > 0 || q.active > 0) {
      await this.d.jobs.noteStage(
        ws,
        jobId,
        fence,
        stage.processingStageId,
        `${done} of ${stage.tasksNumber} tasks done`,
      );
      return;
    }
    const failedJobs = await this.d.queues.get(ws, jobId, rec.epoch).getFailed(0, 5000);
    const doneIds = await this.d.jobs.doneTaskIds(ws, jobId, stage.processingStageId);
    const failedIds = new Set(await this.d.jobs.failedTaskIds(ws, jobId, stage.processingStageId));
    let recorded = 0;
    for (const j of failedJobs) {
      const t = j.data as Task;
      if (t.stage !== stage.processingStageId || doneIds.has(t.taskId) || failedIds.has(t.taskId)) continue;
      const reason = j.failedReason ?? 'failed';
      const r = await this.d.jobs.taskFinish(
        {
          workspace: ws,
          jobId,
          epoch: rec.epoch,
          stage: t.stage,
          taskId: t.taskId,
          lock: null,
          leaderToken: fence.leaderToken,
        },
        {
          ok: false,
          notification: { error: reason },
          files: { ok: 0, failed: t.input.files.length },
          logs: [
            {
              processingStageId: t.stage,
              taskId: t.taskId,
              severity: 'error',
              reportingModule: 'scheduler',
              logType: 'task-failed',
              payload: { reason, attempts: j.attemptsMade },
            },
          ],
        },
      );
      if (r.ok) recorded++;
    }
    if (recorded === 0 && done + failed < stage.tasksNumber) {
      this.d.logger.warn(
        { workspace: ws, jobId, stage: stage.processingStageId },
        'stage has unaccounted tasks and an idle queue: re-planning',
      );
      await this.plan(rec, fence, stage.processingStageName);
    }
  }
}
