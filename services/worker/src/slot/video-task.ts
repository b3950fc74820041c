import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DecodedImage } from '@visionbatch/engine/image-decode';
import type { ResultRow } from '@visionbatch/engine/results-format';
import {
  FfmpegFrameSource,
  type FrameSource,
  VideoDecodeError,
} from '@visionbatch/engine/video/frame-source';
import { planModelSizeFrames } from '@visionbatch/engine/video/model-size-frames';
import { executeImage, pickImageInput } from '@visionbatch/engine/workflow/executor';
import { StateStore } from '@visionbatch/engine/workflow/state';
import { isSafeFileName } from '@visionbatch/shared/ids';
import { objectKeys } from '@visionbatch/shared/object-keys';
import { unitClock } from '@visionbatch/shared/tasks';
import { type ImageTaskDeps, TaskCancelledError, thresholdExceeded, writeTaskOutput } from './image-task.ts';
import { ImageOutputWriter } from './persisted-images.ts';
import type { FileFailure, TaskOutcome, VideoTask } from './protocol.ts';

const PROGRESS_INTERVAL_MS = 200;

/**
 * A video task: the staged video is copied to a temp file (ffmpeg needs to seek in MP4s),
 * frames come from the {@link FrameSource} sub-sampled by `maxVideoFPS`, each frame runs the
 * workflow, and every row carries `video`, the 1-based source `frame_number` and
 * `frame_timestamp` (spec/workflows.md §3.9, §5.5: epoch 0 + index / fps). A video that breaks
 * off keeps the frames that decoded and adds one failure record.
 */
export async function runVideoTask(
  deps: ImageTaskDeps,
  task: VideoTask,
  frames: FrameSource = new FfmpegFrameSource(),
): Promise<TaskOutcome> {
  const { context, compiled, runtime, store } = deps;
  const [video] = task.input.files;
  const rows: ResultRow[] = [];
  const failures: FileFailure[] = [];
  const stats: Record<string, number> = {};
  const imageOutputs = new ImageOutputWriter(store, context, task.output.batchId);
  // per processed frame, the first one with ffmpeg's start
  let clock = null as ReturnType<typeof unitClock> | null;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-video-'));
  try {
    if (!isSafeFileName(video)) {
      failures.push({ file: video, reason: 'invalid-file-name', message: 'not a plain file name' });
    } else {
      const local = path.join(dir, 'input');
      try {
        await pipeline(
          await store.get(
            objectKeys.batchFile(context.workspace, task.input.batchId, task.input.part, video),
          ),
          createWriteStream(local),
        );
      } catch (err) {
        if (err instanceof Error && err.name === 'ObjectNotFoundError')
          failures.push({ file: video, reason: 'not-found', message: 'the staged file does not exist' });
        else throw err;
      }
      if (failures.length === 0) await decodeFrames(local);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  async function decodeFrames(local: string) {
    let info: Awaited<ReturnType<FrameSource['probe']>>;
    try {
      info = await frames.probe(local);
    } catch (err) {
      failures.push({
        file: video,
        reason: err instanceof VideoDecodeError ? err.reason : 'video-unreadable',
        message: (err as Error).message,
      });
      return;
    }
    const last = Math.min(
      task.input.range?.end ?? Number.MAX_SAFE_INTEGER,
      info.frameCount ?? Number.MAX_SAFE_INTEGER,
    );
    const total = last === Number.MAX_SAFE_INTEGER ? 0 : last - (task.input.range?.start ?? 0);
    let lastProgress = Number.NEGATIVE_INFINITY;
    // trackers keep their state across the frames of this video, in order (§2.14)
    const state = new StateStore();
    const fps = info.fps.num / info.fps.den;
    // frames at model size straight from ffmpeg when nothing needs their full pixels
    const modelSize = planModelSizeFrames(
      compiled,
      pickImageInput(compiled, context.imageInputName),
      context.workflowParameters,
      info,
    );
    clock = unitClock();
    try {
      for await (const f of frames.frames(local, info, {
        maxFps: context.maxVideoFPS,
        layout: modelSize?.layout ?? null,
        range: task.input.range,
      })) {
        const image = modelSize
          ? modelSize.image(f)
          : DecodedImage.fromPixels({ data: f.rgb, width: f.width, height: f.height });
        const frameNumber = f.index + 1;
        try {
          const res = await executeImage(compiled, runtime, image, {
            imageInputName: context.imageInputName,
            parameters: context.workflowParameters,
            // §5.5: the staged file name identifies the video; source numbering, declared fps
            videoMetadata: {
              video_identifier: video,
              frame_number: frameNumber,
              frame_timestamp: new Date(f.timestampSec * 1000),
              fps: Number.isFinite(fps) && fps > 0 ? fps : null,
              comes_from_video_file: true,
            },
            state,
          });
          await imageOutputs.add(video, res.images, frameNumber);
          rows.push({
            image: video,
            result: res.output,
            trailing: {
              video,
              frame_number: frameNumber,
              frame_timestamp: new Date(Math.round(f.timestampSec * 1000)).toISOString(),
            },
            sortKey: `${video}\u0000${String(frameNumber).padStart(10, '0')}`,
          });
          for (const [c, n] of Object.entries(res.detectionsByClass)) stats[c] = (stats[c] ?? 0) + n;
        } catch (err) {
          failures.push({
            file: `${video}#${frameNumber}`,
            reason: 'workflow-step-failed',
            message: (err as Error).message,
          });
        }
        clock.unit();
        const now = performance.now();
        if (now - lastProgress >= PROGRESS_INTERVAL_MS) {
          lastProgress = now;
          deps.onProgress(
            task.input.range ? f.index - task.input.range.start + 1 : f.index + 1,
            Math.max(total, f.index + 1),
          );
        }
        if (deps.cancelled()) throw new TaskCancelledError(task.taskId);
      }
    } catch (err) {
      if (!(err instanceof VideoDecodeError)) throw err;
      failures.push({ file: video, reason: err.reason, message: err.message });
    }
  }

  const written = await writeTaskOutput(deps, task, rows, imageOutputs);
  deps.onProgress(1, 1);
  return {
    processed: rows.length,
    failures,
    // a video is one file: frame failures count against the default threshold of 10
    thresholdExceeded: thresholdExceeded(
      failures.length,
      Math.max(1, rows.length + failures.length),
      context.maxImageFailureRate,
    ),
    stats,
    ...written,
    ...(clock ? { timing: clock.result() } : {}),
  };
}
