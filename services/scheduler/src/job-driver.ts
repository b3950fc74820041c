import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FfmpegFrameSource, type FrameSource } from '@visionbatch/engine/video/frame-source';
import { isStatefulDefinition } from '@visionbatch/engine/workflow/compiler';
import type { BatchesRepo, VideoProbe } from '@visionbatch/shared/batches-repo';
import type { Config } from '@visionbatch/shared/config';
import type { JobRecord, JobsRepo, StageRecord } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import { taskJobId } from '@visionbatch/shared/queues';
import type { RegistryRepo } from '@visionbatch/shared/registry-repo';
import {
  type ExportTask,
  IMAGES_PART,
  type ImageTask,
  type Task,
  type VideoTask,
} from '@visionbatch/shared/tasks';
import { type Clock, iso } from '@visionbatch/shared/time';
import type { WebhookAuth } from '@visionbatch/shared/webhook-auth';
import type { WorkflowProcessingJob } from '@visionbatch/shared/wire/batch-processing';
import { effectiveDefinition } from './effective-definition.ts';
import type { JobQueues } from './job-queues.ts';
import type { LeaseStore } from './leases.ts';
import type { Notifier } from './notifier.ts';

/** Result files packed into one export archive (bounds archive size). */
const FILES_PER_ARCHIVE = 64;
const ADD_CHUNK = 500;

type Stage = StageRecord;

export const outputBatchId = (jobId: string, stage: string) => `${jobId}-${stage}`;

export interface DriverDeps {
  config: Config;
  jobs: JobsRepo;
  batches: BatchesRepo;
  queues: JobQueues;
  leases: LeaseStore;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  /** workflow definitions (to know whether a video may be split) */
  registry: RegistryRepo;
  /** reads staged videos to probe their length */
  store: ObjectStore;
  frames?: FrameSource;
  /** the `Authorization` of the job webhook */
  webhookAuth: WebhookAuth;
  onTerminal?: (state: string) => void;
}

/**
 * Drives every active job through its stages: plans `processing` (shards the input batch into
 * tasks on the job's queue), watches task completion, plans `export`, ends the job and sends its
 * webhook. All state is in Redis and every step is idempotent, so a restarted scheduler simply
 * drives each job again from what it finds.
 */
export class JobDriver {
  private readonly busy = new Set<string>();

  constructor(private readonly d: DriverDeps) {}

  /** One reconcile pass over all active jobs (concurrent per job, never twice for the same job). */
  async tick(): Promise<void> {
    const active = await this.d.jobs.activeJobs();
    await Promise.all(active.map(({ workspace, jobId }) => this.driveOnce(workspace, jobId)));
    await this.expireLeases();
  }

  async driveOnce(ws: string, jobId: string): Promise<void> {
    const k = `${ws}/${jobId}`;
    if (this.busy.has(k)) return;
    this.busy.add(k);
    try {
      await this.drive(ws, jobId);
    } catch (err) {
      this.d.logger.error({ err, workspace: ws, jobId }, 'job step failed; retrying on the next tick');
    } finally {
      this.busy.delete(k);
    }
  }

  private async drive(ws: string, jobId: string): Promise<void> {
    const rec = await this.d.jobs.get(ws, jobId);
    if (!rec || rec.isTerminal) {
      if (rec?.isTerminal)
        await this.d.jobs.finish(ws, jobId, rec.state as 'succeeded', String(rec.lastNotification ?? ''));
      return;
    }
    const def = effectiveDefinition(rec.definition, rec.restartOverrides);
    if (rec.state === 'queued' || !rec.currentStage) {
      await this.planProcessing(rec, def);
      return;
    }
    if (rec.deadlineAt !== null && this.d.clock.now() > rec.deadlineAt) {
      await this.fail(
        rec,
        `processing timeout of ${def.processingTimeoutSeconds} s exceeded`,
        'processing-timeout',
      );
      return;
    }
    const stage = (await this.d.jobs.getStage(ws, jobId, rec.currentStage)) as Stage | null;
    if (!stage) {
      await this.planProcessing(rec, def);
      return;
    }
    if (!stage.planComplete) {
      if (stage.processingStageName === 'processing') await this.planProcessing(rec, def);
      else await this.planExport(rec);
      return;
    }
    const { done, failed } = await this.d.jobs.stageCounts(ws, jobId, stage.processingStageId);
    if (done + failed < stage.tasksNumber) {
      await this.recoverLostTasks(rec, stage, done + failed);
      return;
    }
    const now = iso(this.d.clock.now());
    if (failed > 0) {
      const files = await this.d.jobs.stageFileCounts(ws, jobId, stage.processingStageId);
      await this.d.jobs.putStage(ws, jobId, {
        ...stage,
        statusType: 'error',
        notification: `${failed} of ${stage.tasksNumber} tasks failed`,
        lastEventTimestamp: now,
      });
      await this.fail(
        rec,
        `${failed} of ${stage.tasksNumber} tasks of stage ${stage.processingStageName} failed (${files.failed} files failed)`,
        'stage-failed',
      );
      return;
    }
    const files = await this.d.jobs.stageFileCounts(ws, jobId, stage.processingStageId);
    await this.d.jobs.putStage(ws, jobId, {
      ...stage,
      statusType: 'success',
      notification: { tasks: stage.tasksNumber, filesProcessed: files.ok, filesFailed: files.failed },
      lastEventTimestamp: now,
    });
    await this.d.jobs.log(ws, jobId, {
      processingStageId: stage.processingStageId,
      taskId: null,
      severity: 'info',
      reportingModule: 'scheduler',
      logType: 'stage-finished',
      payload: { stage: stage.processingStageName, ...files },
    });
    if (stage.processingStageName === 'processing') await this.planExport(rec);
    else await this.succeed(rec);
  }

  /** Plans (or re-plans after a crash or restart) the processing stage; skips tasks already done. */
  async planProcessing(rec: JobRecord, def: WorkflowProcessingJob): Promise<void> {
    const { workspace: ws, jobId } = rec;
    const now = this.d.clock.now();
    const input = { batchId: def.jobInput.batchId, part: def.jobInput.partName ?? '' };
    const total = await this.d.batches.count(ws, input.batchId, input.part);
    // Videos: one task per video (stateful workflows need one ordered pass); images: shards.
    const isVideo = def.type === 'simple-video-processing-v1';
    const per = isVideo ? 1 : this.d.config.limits.imagesPerTask;
    const tasksNumber = Math.max(1, Math.ceil(total / per));
    const outId = outputBatchId(jobId, 'processing');
    await this.d.batches.ensure(ws, outId, {
      displayName: `${rec.name} processing results`,
      batchType: 'multipart-batch',
      contentType: 'mixed',
    });
    await this.d.batches.setPart(ws, outId, {
      partName: 'results',
      partType: 'simple-batch',
      contentType: 'metadata',
      partDescription: `per-task results (${def.processingSpecification.aggregationFormat ?? 'jsonl'})`,
    });
    if (def.processingSpecification.persistImagesOutputs) {
      await this.d.batches.setPart(ws, outId, {
        partName: IMAGES_PART,
        partType: 'simple-batch',
        contentType: 'images',
        partDescription: 'persisted image outputs (JPEG, named by key path)',
      });
    }
    const prev = (await this.d.jobs.getStage(ws, jobId, 'processing')) as Stage | null;
    const stage: Stage = {
      processingStageId: 'processing',
      processingStageName: 'processing',
      tasksNumber,
      outputBatches: [outId],
      startTimestamp: prev?.startTimestamp ?? iso(now),
      notification: `planning ${tasksNumber} tasks over ${total} files`,
      statusType: 'info',
      lastEventTimestamp: iso(now),
      planComplete: false,
    };
    await this.d.jobs.putStage(ws, jobId, stage);
    const deadlineAt = def.processingTimeoutSeconds ? now + def.processingTimeoutSeconds * 1000 : null;
    await this.d.jobs.update(ws, jobId, {
      state: 'running',
      currentStage: 'processing',
      deadlineAt: rec.deadlineAt ?? deadlineAt,
      lastNotification: 'processing',
    });
    if (!prev) {
      await this.d.jobs.log(ws, jobId, {
        processingStageId: 'processing',
        taskId: null,
        severity: 'info',
        reportingModule: 'scheduler',
        logType: 'stage-started',
        payload: { stage: 'processing', tasks: tasksNumber, files: total },
      });
    }
    const done = await this.d.jobs.doneTaskIds(ws, jobId, 'processing');
    const ext = def.processingSpecification.aggregationFormat ?? 'jsonl';
    const queue = this.d.queues.get(ws, jobId);
    if (def.maxParallelTasks) await queue.setGlobalConcurrency(def.maxParallelTasks);
    else await queue.removeGlobalConcurrency();
    let index = 0;
    let batch: Task[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await queue.addBulk(batch.map((t) => ({ name: t.kind, data: t, opts: this.taskOpts(t) })));
      batch = [];
    };
    let pending: string[] = [];
    const splitVideos = isVideo && (await this.videosMaySplit(ws, def));
    const emit = async (files: string[]) => {
      const ranges = splitVideos && files.length ? await this.videoSegments(ws, input, files[0]) : [null];
      for (const range of ranges) {
        const taskId = `t${String(index++).padStart(6, '0')}`;
        if (done.has(taskId)) continue;
        const output = { batchId: outId, part: 'results', fileName: `${taskId}.${ext}` };
        const task: ImageTask | VideoTask = isVideo
          ? {
              kind: 'video',
              stage: 'processing',
              taskId,
              input: { ...input, files: [files[0]], range },
              output,
            }
          : { kind: 'images', stage: 'processing', taskId, input: { ...input, files }, output };
        batch.push(task);
        if (batch.length >= ADD_CHUNK) await flush();
      }
    };
    for await (const names of this.d.batches.iterateFileNames(ws, input.batchId, input.part)) {
      pending.push(...names);
      while (pending.length >= per) {
        await emit(pending.slice(0, per));
        pending = pending.slice(per);
      }
    }
    if (pending.length > 0 || index === 0) await emit(pending);
    await flush();
    await this.d.jobs.putStage(ws, jobId, {
      ...stage,
      tasksNumber: Math.max(1, index),
      notification: `${index} tasks planned over ${total} files`,
      planComplete: true,
    });
    this.d.logger.info({ workspace: ws, jobId, tasks: index, files: total }, 'processing stage planned');
  }

  /** Whether the job's videos may be split into segments: a segment length is set and the workflow is stateless. */
  private async videosMaySplit(ws: string, def: WorkflowProcessingJob): Promise<boolean> {
    if (this.d.config.limits.videoSegmentSeconds <= 0) return false;
    const wf = await this.d.registry.getWorkflow(ws, def.processingSpecification.workflowId);
    return !!wf && !isStatefulDefinition(wf.definition);
  }

  /**
   * Frame ranges of one video: `[null]` (whole video) when it is short or cannot be probed
   * (the worker then reports the problem), else consecutive [start, end) ranges of
   * `videoSegmentSeconds`, so every frame is in exactly one segment. Deterministic, so a re-plan
   * after a crash produces the same task ids.
   */
  private async videoSegments(
    ws: string,
    input: { batchId: string; part: string },
    name: string,
  ): Promise<Array<{ start: number; end: number } | null>> {
    try {
      const info = await this.videoProbe(ws, input, name);
      const frames =
        info.frameCount ??
        (info.durationSec ? Math.floor((info.durationSec * info.fps.num) / info.fps.den) : 0);
      const per = Math.max(
        1,
        Math.round((this.d.config.limits.videoSegmentSeconds * info.fps.num) / info.fps.den),
      );
      if (frames <= per) return [null];
      const out: Array<{ start: number; end: number }> = [];
      for (let start = 0; start < frames; start += per)
        out.push({ start, end: Math.min(frames, start + per) });
      // the last segment runs to the end of the stream, in case the container undercounts frames
      out[out.length - 1].end = Number.MAX_SAFE_INTEGER;
      return out;
    } catch (err) {
      this.d.logger.warn(
        { workspace: ws, video: name, err: (err as Error).message },
        'could not probe video; one task for all of it',
      );
      return [null];
    }
  }

  /**
   * The probe stored with the video's record (reference ingests probe at ingest). A video staged
   * without one (uploaded by signed URL) is downloaded and probed here once, and the probe stored.
   */
  private async videoProbe(
    ws: string,
    input: { batchId: string; part: string },
    name: string,
  ): Promise<VideoProbe> {
    const stored = await this.d.batches.getVideoProbe(ws, input.batchId, input.part, name);
    if (stored) return stored;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-probe-'));
    try {
      const local = path.join(dir, 'video');
      await pipeline(
        await this.d.store.get(objectKeys.batchFile(ws, input.batchId, input.part, name)),
        createWriteStream(local),
      );
      const { width, height, fps, frameCount, durationSec } = await (
        this.d.frames ?? new FfmpegFrameSource()
      ).probe(local);
      const probe = { width, height, fps, frameCount, durationSec };
      await this.d.batches.setVideoProbe(ws, input.batchId, input.part, name, probe);
      return probe;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Plans the export stage: result files packed into archives of at most FILES_PER_ARCHIVE files. */
  async planExport(rec: JobRecord): Promise<void> {
    const { workspace: ws, jobId } = rec;
    const now = this.d.clock.now();
    const inId = outputBatchId(jobId, 'processing');
    const outId = outputBatchId(jobId, 'export');
    await this.d.batches.ensure(ws, outId, {
      displayName: `${rec.name} export`,
      batchType: 'multipart-batch',
      contentType: 'archives',
    });
    await this.d.batches.setPart(ws, outId, {
      partName: 'results',
      partType: 'simple-batch',
      contentType: 'archives',
      nestedContentType: 'metadata',
      partDescription: 'results packed as tar.gz archives',
    });
    const files: string[] = [];
    for await (const names of this.d.batches.iterateFileNames(ws, inId, 'results')) files.push(...names);
    const tasks: ExportTask[] = [];
    for (let i = 0; i < Math.max(1, files.length); i += FILES_PER_ARCHIVE) {
      const taskId = `e${String(tasks.length).padStart(6, '0')}`;
      tasks.push({
        kind: 'export',
        stage: 'export',
        taskId,
        input: { batchId: inId, part: 'results', files: files.slice(i, i + FILES_PER_ARCHIVE) },
        output: {
          batchId: outId,
          part: 'results',
          fileName: `results-${String(tasks.length + 1).padStart(4, '0')}.tar.gz`,
        },
      });
    }
    // persisted image outputs: their own part, archives unpacking to `<image>/<output>.jpg`
    const images: string[] = [];
    for await (const names of this.d.batches.iterateFileNames(ws, inId, IMAGES_PART)) images.push(...names);
    if (images.length > 0) {
      await this.d.batches.setPart(ws, outId, {
        partName: IMAGES_PART,
        partType: 'simple-batch',
        contentType: 'archives',
        nestedContentType: 'images',
        partDescription: 'persisted image outputs packed as tar.gz archives',
      });
    }
    for (let i = 0, n = 1; i < images.length; i += FILES_PER_ARCHIVE, n++) {
      tasks.push({
        kind: 'export',
        stage: 'export',
        taskId: `e${String(tasks.length).padStart(6, '0')}`,
        input: {
          batchId: inId,
          part: IMAGES_PART,
          files: images.slice(i, i + FILES_PER_ARCHIVE),
          keyPaths: true,
        },
        output: {
          batchId: outId,
          part: IMAGES_PART,
          fileName: `images-${String(n).padStart(4, '0')}.tar.gz`,
        },
      });
    }
    const prev = (await this.d.jobs.getStage(ws, jobId, 'export')) as Stage | null;
    const stage: Stage = {
      processingStageId: 'export',
      processingStageName: 'export',
      tasksNumber: tasks.length,
      outputBatches: [outId],
      startTimestamp: prev?.startTimestamp ?? iso(now),
      notification: `packing ${files.length} result files${images.length ? ` and ${images.length} images` : ''} into ${tasks.length} archives`,
      statusType: 'info',
      lastEventTimestamp: iso(now),
      planComplete: false,
    };
    await this.d.jobs.putStage(ws, jobId, stage);
    await this.d.jobs.update(ws, jobId, { currentStage: 'export', lastNotification: 'export' });
    const done = await this.d.jobs.doneTaskIds(ws, jobId, 'export');
    const todo = tasks.filter((t) => !done.has(t.taskId));
    await this.d.queues
      .get(ws, jobId)
      .addBulk(todo.map((t) => ({ name: t.kind, data: t, opts: this.taskOpts(t) })));
    await this.d.jobs.putStage(ws, jobId, { ...stage, planComplete: true });
    if (!prev)
      await this.d.jobs.log(ws, jobId, {
        processingStageId: 'export',
        taskId: null,
        severity: 'info',
        reportingModule: 'scheduler',
        logType: 'stage-started',
        payload: { stage: 'export', tasks: tasks.length },
      });
  }

  private taskOpts(t: Task) {
    return {
      jobId: taskJobId(t.stage, t.taskId),
      attempts: this.d.config.scheduler.taskAttempts,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: 5000,
    };
  }

  /**
   * When a stage is not complete but its queue has nothing left to run, tasks were lost (a
   * crash between steps) or failed inside BullMQ without reaching our accounting (a machine
   * died too often): record BullMQ's failures, re-add what is missing.
   */
  private async recoverLostTasks(rec: JobRecord, stage: Stage, accounted: number): Promise<void> {
    const { workspace: ws, jobId } = rec;
    const q = await this.d.queues.pending(ws, jobId);
    if (q.waiting > 0 || q.active > 0) {
      const c = await this.d.jobs.stageCounts(ws, jobId, stage.processingStageId);
      await this.d.jobs.putStage(ws, jobId, {
        ...stage,
        notification: `${c.done} of ${stage.tasksNumber} tasks done`,
        lastEventTimestamp: iso(this.d.clock.now()),
      });
      return;
    }
    const failedJobs = await this.d.queues.get(ws, jobId).getFailed(0, 5000);
    const done = await this.d.jobs.doneTaskIds(ws, jobId, stage.processingStageId);
    const failedIds = new Set(await this.d.jobs.failedTaskIds(ws, jobId, stage.processingStageId));
    let recorded = 0;
    for (const j of failedJobs) {
      const t = j.data as Task;
      if (t.stage !== stage.processingStageId || done.has(t.taskId) || failedIds.has(t.taskId)) continue;
      await this.d.jobs.taskFinished(
        ws,
        jobId,
        t.stage,
        t.taskId,
        false,
        { error: j.failedReason ?? 'failed' },
        { ok: 0, failed: t.input.files.length },
      );
      await this.d.jobs.log(ws, jobId, {
        processingStageId: t.stage,
        taskId: t.taskId,
        severity: 'error',
        reportingModule: 'scheduler',
        logType: 'task-failed',
        payload: { reason: j.failedReason ?? 'failed', attempts: j.attemptsMade },
      });
      recorded++;
    }
    if (recorded === 0 && accounted < stage.tasksNumber) {
      this.d.logger.warn(
        { workspace: ws, jobId, stage: stage.processingStageId },
        'stage has unaccounted tasks and an idle queue: re-planning',
      );
      if (stage.processingStageName === 'processing')
        await this.planProcessing(rec, effectiveDefinition(rec.definition, rec.restartOverrides));
      else await this.planExport(rec);
    }
  }

  async succeed(rec: JobRecord): Promise<void> {
    await this.d.jobs.finish(rec.workspace, rec.jobId, 'succeeded', 'job finished successfully');
    await this.d.jobs.log(rec.workspace, rec.jobId, {
      processingStageId: null,
      taskId: null,
      severity: 'info',
      reportingModule: 'scheduler',
      logType: 'job-succeeded',
      payload: {},
    });
    await this.terminal(rec, 'success');
  }

  async fail(rec: JobRecord, reason: string, logType: string): Promise<void> {
    await this.d.jobs.finish(rec.workspace, rec.jobId, 'failed', reason);
    await this.d.jobs.log(rec.workspace, rec.jobId, {
      processingStageId: rec.currentStage,
      taskId: null,
      severity: 'error',
      reportingModule: 'scheduler',
      logType,
      payload: { reason },
    });
    if (rec.currentStage) {
      const st = await this.d.jobs.getStage(rec.workspace, rec.jobId, rec.currentStage);
      if (st && st.statusType === 'info')
        await this.d.jobs.putStage(rec.workspace, rec.jobId, {
          ...st,
          statusType: 'error',
          notification: reason,
          lastEventTimestamp: iso(this.d.clock.now()),
        });
    }
    await this.terminal(rec, 'fail');
  }

  async abort(rec: JobRecord): Promise<void> {
    await this.d.jobs.finish(rec.workspace, rec.jobId, 'aborted', 'job aborted by user');
    await this.d.jobs.log(rec.workspace, rec.jobId, {
      processingStageId: rec.currentStage,
      taskId: null,
      severity: 'warning',
      reportingModule: 'scheduler',
      logType: 'job-aborted',
      payload: {},
    });
    if (rec.currentStage) {
      const st = await this.d.jobs.getStage(rec.workspace, rec.jobId, rec.currentStage);
      if (st && st.statusType === 'info')
        await this.d.jobs.putStage(rec.workspace, rec.jobId, {
          ...st,
          statusType: 'error',
          notification: 'aborted',
          lastEventTimestamp: iso(this.d.clock.now()),
        });
    }
    await this.terminal(rec, 'fail');
  }

  /** Makes a failed or aborted job run again from its unfinished tasks. */
  async restart(rec: JobRecord): Promise<void> {
    const { workspace: ws, jobId } = rec;
    const processing = await this.d.jobs.getStage(ws, jobId, 'processing');
    const pc = await this.d.jobs.stageCounts(ws, jobId, 'processing');
    const resumeExport = processing !== null && pc.done >= processing.tasksNumber;
    const stage = resumeExport ? 'export' : 'processing';
    await this.d.jobs.clearFailed(ws, jobId, stage);
    const def = effectiveDefinition(rec.definition, rec.restartOverrides);
    const deadlineAt = def.processingTimeoutSeconds
      ? this.d.clock.now() + def.processingTimeoutSeconds * 1000
      : null;
    await this.d.jobs.reactivate(ws, jobId, {
      state: 'running',
      isTerminal: false,
      error: false,
      currentStage: stage,
      deadlineAt,
      lastNotification: `restarted from stage ${stage}`,
    });
    const st = (await this.d.jobs.getStage(ws, jobId, stage)) as Stage | null;
    if (st)
      await this.d.jobs.putStage(ws, jobId, {
        ...st,
        statusType: 'info',
        planComplete: false,
        notification: 'restarting',
      });
    await this.d.jobs.log(ws, jobId, {
      processingStageId: stage,
      taskId: null,
      severity: 'info',
      reportingModule: 'scheduler',
      logType: 'job-restarted',
      payload: { stage, override: rec.restartOverrides.at(-1) ?? null },
    });
    const fresh = await this.d.jobs.get(ws, jobId);
    if (fresh) {
      if (stage === 'processing') await this.planProcessing(fresh, def);
      else await this.planExport(fresh);
    }
  }

  private async terminal(rec: JobRecord, jobState: 'success' | 'fail'): Promise<void> {
    this.d.onTerminal?.(jobState);
    await this.d.queues
      .destroy(rec.workspace, rec.jobId)
      .catch((err) => this.d.logger.warn({ err }, 'queue cleanup failed'));
    const url = rec.definition.notificationsURL;
    if (url) {
      const key = await this.d.webhookAuth.authorizationFor(rec.workspace);
      await this.d.notifier.send(
        url,
        key,
        { type: 'roboflow-batch-job-notification-v1', job_id: rec.jobId, job_state: jobState },
        `job-${rec.workspace}-${rec.jobId}-${rec.restartOverrides.length}`,
      );
    }
    this.d.logger.info({ workspace: rec.workspace, jobId: rec.jobId, jobState }, 'job ended');
  }

  /** Closes leases of machines that stopped heartbeating (billing stops at their last heartbeat). */
  private async expireLeases(): Promise<void> {
    for (const lease of await this.d.leases.stale(this.d.config.leaseTtlMs)) {
      const ms = await this.d.leases.close(lease, true);
      if (ms !== null)
        this.d.logger.warn(
          { leaseId: lease.leaseId, machineId: lease.machineId, jobId: lease.jobId, billedMs: ms },
          'lease expired',
        );
    }
  }
}
