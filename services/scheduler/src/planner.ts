import { isStatefulDefinition } from '@visionbatch/engine/workflow/compiler';
import type { BatchesRepo } from '@visionbatch/shared/batches-repo';
import type { Config } from '@visionbatch/shared/config';
import {
  effectiveDefinition,
  machineTypeOf,
  workersPerMachineOf,
} from '@visionbatch/shared/effective-definition';
import type { Fence, JobRecord, JobsRepo, StageRecord } from '@visionbatch/shared/jobs-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { taskJobId } from '@visionbatch/shared/queues';
import { imagesPerTask } from '@visionbatch/shared/task-sizing';
import {
  type ExportTask,
  IMAGES_PART,
  type ImageTask,
  type Task,
  type VideoTask,
} from '@visionbatch/shared/tasks';
import { type Clock, iso } from '@visionbatch/shared/time';
import type { FaultPoints } from './fault-points.ts';
import type { JobQueues } from './job-queues.ts';
import type { FrameRange } from './video-segments.ts';

/** Result files packed into one export archive (bounds archive size). */
const FILES_PER_ARCHIVE = 64;
/** Tasks added to a queue per round trip; the planner checks it still owns the job between chunks. */
const ADD_CHUNK = 500;

export const outputBatchId = (jobId: string, stage: string) => `${jobId}-${stage}`;

export interface PlannerDeps {
  config: Config;
  jobs: JobsRepo;
  batches: BatchesRepo;
  queues: JobQueues;
  clock: Clock;
  logger: Logger;
  faults: FaultPoints;
  /** machines of a pool a job may hold at once (sizes tasks so that a job uses every slot it may) */
  machinesFor: (pool: 'cpu' | 'gpu') => Promise<number>;
  /** frame ranges of a staged video (segments of a long video, or the whole of it) */
  segments: (ws: string, input: { batchId: string; part: string }, name: string) => Promise<FrameRange[]>;
  /** the frame range of a cost estimate's sample of a video: its first `seconds` */
  videoSample: (
    ws: string,
    input: { batchId: string; part: string },
    name: string,
    seconds: number,
  ) => Promise<FrameRange>;
  /** probes a staged video unless its probe is stored (for an estimate to count the batch's frames) */
  probeVideo: (ws: string, input: { batchId: string; part: string }, name: string) => Promise<unknown>;
  /** the leader token held now (null: this replica stopped leading, planning stops) */
  leaderToken: () => string | null;
  /** tasks added per round trip (default 500) */
  addChunk?: number;
}

/**
 * Plans the stages of a job into tasks on its queue. Each plan is: `beginPlan` (stage → planning),
 * tasks added in chunks with deterministic ids (a re-plan after a crash adds nothing twice and
 * skips done tasks), and `endPlan` (stage → running). Between chunks the planner checks that it
 * still leads and that the job still runs at its epoch; if the job ended under it (an abort during
 * planning) it removes the queue it was filling, so nothing is left behind.
 */
export class Planner {
  constructor(private readonly d: PlannerDeps) {}

  async planProcessing(rec: JobRecord, fence: Fence): Promise<void> {
    const { workspace: ws, jobId } = rec;
    const def = effectiveDefinition(rec.definition, rec.restartOverrides);
    const now = this.d.clock.now();
    const input = { batchId: def.jobInput.batchId, part: def.jobInput.partName ?? '' };
    // A cost estimate's sample job runs a few files of its batch, not all of them.
    const sample = rec.sample ?? null;
    const total = sample ? sample.files.length : await this.d.batches.count(ws, input.batchId, input.part);
    const isVideo = def.type === 'simple-video-processing-v1';
    const per = isVideo
      ? 1
      : imagesPerTask({
          files: total,
          workersPerMachine: workersPerMachineOf(def),
          machines: await this.d.machinesFor(machineTypeOf(def)),
          maxParallelTasks: def.maxParallelTasks ?? null,
          max: this.d.config.limits.imagesPerTask,
        });
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
    const begun = await this.d.jobs.beginPlan(
      ws,
      jobId,
      fence,
      this.newStage(
        'processing',
        outId,
        Math.max(1, Math.ceil(total / per)),
        `planning over ${total} files`,
        {
          imagesPerTask: per,
        },
      ),
      def.processingTimeoutSeconds ? now + def.processingTimeoutSeconds * 1000 : null,
      'processing',
    );
    if (!begun.ok) return;
    for (const name of sample?.probe ?? []) await this.d.probeVideo(ws, input, name);
    if (!begun.before)
      await this.d.jobs.log(ws, jobId, {
        processingStageId: 'processing',
        taskId: null,
        severity: 'info',
        reportingModule: 'scheduler',
        logType: 'stage-started',
        payload: { stage: 'processing', files: total },
      });
    // fixed at the first plan: a re-plan must group files exactly as before
    const filesPerTask = begun.before?.imagesPerTask ?? per;
    const done = await this.d.jobs.doneTaskIds(ws, jobId, 'processing');
    const ext = def.processingSpecification.aggregationFormat ?? 'jsonl';
    const queue = this.d.queues.get(ws, jobId, rec.epoch);
    if (def.maxParallelTasks) await queue.setGlobalConcurrency(def.maxParallelTasks);
    else await queue.removeGlobalConcurrency();
    const splitVideos = isVideo && (await this.videosMaySplit(ws, jobId));
    const adder = this.adder(rec, fence);
    let index = 0;
    const emit = async (files: string[]) => {
      const ranges =
        sample && isVideo && files.length
          ? [await this.d.videoSample(ws, input, files[0], sample.videoSeconds ?? 0)]
          : splitVideos && files.length
            ? await this.d.segments(ws, input, files[0])
            : [null];
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
        if (!(await adder.add(task))) return false;
      }
      return true;
    };
    let pending: string[] = [];
    const fileNames = sample
      ? (async function* () {
          yield sample.files;
        })()
      : this.d.batches.iterateFileNames(ws, input.batchId, input.part);
    for await (const names of fileNames) {
      pending.push(...names);
      while (pending.length >= filesPerTask) {
        if (!(await emit(pending.slice(0, filesPerTask)))) return;
        pending = pending.slice(filesPerTask);
      }
    }
    if ((pending.length > 0 || index === 0) && !(await emit(pending))) return;
    if (!(await adder.flush())) return;
    await this.d.faults.hit('mid-plan');
    const ended = await this.d.jobs.endPlan(
      ws,
      jobId,
      fence,
      'processing',
      Math.max(1, index),
      `${index} tasks planned over ${total} files`,
    );
    if (ended.ok)
      this.d.logger.info({ workspace: ws, jobId, tasks: index, files: total }, 'processing stage planned');
  }

  /** Plans the export stage: result files (and persisted images) packed into archives, read page by page. */
  async planExport(rec: JobRecord, fence: Fence): Promise<void> {
    const { workspace: ws, jobId } = rec;
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
    const results = await this.d.batches.count(ws, inId, 'results');
    const images = await this.d.batches.count(ws, inId, IMAGES_PART);
    if (images > 0)
      await this.d.batches.setPart(ws, outId, {
        partName: IMAGES_PART,
        partType: 'simple-batch',
        contentType: 'archives',
        nestedContentType: 'images',
        partDescription: 'persisted image outputs packed as tar.gz archives',
      });
    const archives =
      Math.max(1, Math.ceil(results / FILES_PER_ARCHIVE)) + Math.ceil(images / FILES_PER_ARCHIVE);
    const begun = await this.d.jobs.beginPlan(
      ws,
      jobId,
      fence,
      this.newStage(
        'export',
        outId,
        archives,
        `packing ${results} result files${images ? ` and ${images} images` : ''} into ${archives} archives`,
      ),
      null,
      'export',
    );
    if (!begun.ok) return;
    if (!begun.before)
      await this.d.jobs.log(ws, jobId, {
        processingStageId: 'export',
        taskId: null,
        severity: 'info',
        reportingModule: 'scheduler',
        logType: 'stage-started',
        payload: { stage: 'export', tasks: archives },
      });
    const done = await this.d.jobs.doneTaskIds(ws, jobId, 'export');
    const adder = this.adder(rec, fence);
    let index = 0;
    const pack = async (part: string, files: string[], n: number): Promise<boolean> => {
      const taskId = `e${String(index++).padStart(6, '0')}`;
      if (done.has(taskId)) return true;
      const keyPaths = part === IMAGES_PART;
      const task: ExportTask = {
        kind: 'export',
        stage: 'export',
        taskId,
        input: { batchId: inId, part, files, ...(keyPaths ? { keyPaths: true } : {}) },
        output: {
          batchId: outId,
          part,
          fileName: `${keyPaths ? 'images' : 'results'}-${String(n).padStart(4, '0')}.tar.gz`,
        },
      };
      return adder.add(task);
    };
    for (const part of ['results', IMAGES_PART]) {
      let chunk: string[] = [];
      let n = 1;
      for await (const names of this.d.batches.iterateFileNames(ws, inId, part)) {
        for (const name of names) {
          chunk.push(name);
          if (chunk.length === FILES_PER_ARCHIVE) {
            if (!(await pack(part, chunk, n++))) return;
            chunk = [];
          }
        }
      }
      // results always get at least one archive (an empty job exports an empty archive)
      if ((chunk.length > 0 || (part === 'results' && n === 1)) && !(await pack(part, chunk, n))) return;
    }
    if (!(await adder.flush())) return;
    await this.d.faults.hit('mid-export');
    await this.d.jobs.endPlan(ws, jobId, fence, 'export', index, `${index} archives planned`);
  }

  private newStage(
    id: 'processing' | 'export',
    outId: string,
    tasksNumber: number,
    notification: string,
    extra: Partial<StageRecord> = {},
  ): StageRecord {
    const now = iso(this.d.clock.now());
    return {
      processingStageId: id,
      processingStageName: id,
      tasksNumber,
      outputBatches: [outId],
      startTimestamp: now,
      notification,
      statusType: 'info',
      lastEventTimestamp: now,
      state: 'planning',
      ...extra,
    };
  }

  /**
   * Adds tasks to the job's queue in chunks. `add`/`flush` answer false once the planner no longer
   * owns the job (it stopped leading, or the job ended or restarted under it); a job that ended gets
   * the queue just filled removed again (the outbox's cleanup may have run before the last chunk).
   */
  private adder(rec: JobRecord, fence: Fence) {
    const queue = this.d.queues.get(rec.workspace, rec.jobId, rec.epoch);
    let batch: Task[] = [];
    const stillMine = async () => {
      if (this.d.leaderToken() !== fence.leaderToken) return false;
      const now = await this.d.jobs.get(rec.workspace, rec.jobId);
      if (now?.state === 'running' && now.epoch === rec.epoch) return true;
      if (!now || now.isTerminal || now.epoch !== rec.epoch) {
        this.d.logger.info(
          { workspace: rec.workspace, jobId: rec.jobId, epoch: rec.epoch },
          'job ended or restarted while planning: planning stopped, its queue removed',
        );
        await this.d.queues.destroy(queue.name);
      }
      return false;
    };
    const flush = async (): Promise<boolean> => {
      if (batch.length > 0) {
        await queue.addBulk(batch.map((t) => ({ name: t.kind, data: t, opts: this.taskOpts(t) })));
        batch = [];
      }
      return stillMine();
    };
    return {
      add: async (t: Task): Promise<boolean> => {
        batch.push(t);
        return batch.length >= (this.d.addChunk ?? ADD_CHUNK) ? flush() : true;
      },
      flush,
    };
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

  /** Whether the job's videos may be split into segments: a segment length is set and the workflow is stateless. */
  private async videosMaySplit(ws: string, jobId: string): Promise<boolean> {
    if (this.d.config.limits.videoSegmentSeconds <= 0) return false;
    const snap = await this.d.jobs.snapshot(ws, jobId);
    return !!snap && !isStatefulDefinition(snap.workflow);
  }
}
