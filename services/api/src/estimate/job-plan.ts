import type { BatchesRepo, VideoProbe } from '@visionbatch/shared/batches-repo';
import { imagesPerTask } from '@visionbatch/shared/task-sizing';

/**
 * The processing tasks the whole job would have, as units per task (images, or processed video
 * frames), sized the way the scheduler's planner sizes them, from what the batch holds. Videos are
 * counted from their stored probes; a video never probed counts as the mean of the others.
 */
export interface JobPlan {
  files: number;
  taskUnits: number[];
  /** videos whose frame count was taken as the mean of the probed ones */
  extrapolatedFiles: number;
}

/** Video records read to count frames; past it the rest count as the mean (a bound on the request). */
const MAX_VIDEO_RECORDS = 10_000;

/** Images: tasks of `imagesPerTask` files over `files` files. */
export function imageTasks(o: {
  files: number;
  workersPerMachine: number;
  machines: number;
  maxParallelTasks: number | null;
  maxImagesPerTask: number;
}): number[] {
  const per = imagesPerTask({
    files: o.files,
    workersPerMachine: o.workersPerMachine,
    machines: o.machines,
    maxParallelTasks: o.maxParallelTasks,
    max: o.maxImagesPerTask,
  });
  const out: number[] = [];
  for (let left = o.files; left > 0; left -= per) out.push(Math.min(per, left));
  return out.length ? out : [0];
}

/**
 * Frames of [0, end) a worker processes at `maxFps` (engine/video/frame-source.ts `keepsFrame`:
 * frame 0, then each frame at which floor(n·maxFps/fps) steps up), in closed form and exact
 * integers, so counting an hour of video costs nothing.
 */
export function keptFrames(end: number, fps: VideoProbe['fps'], maxFps: number | null): number {
  if (end <= 0) return 0;
  if (maxFps === null || maxFps * fps.den >= fps.num) return end;
  // the same rational as keepsFrame: maxFps in thousandths over fps
  const f = BigInt(Math.round(maxFps * 1000));
  const q = BigInt(fps.num) * 1000n;
  return 1 + Number((BigInt(end - 1) * f * BigInt(fps.den)) / q);
}

/** Processed frames of each task of one probed video: one task, or segments of `segmentSeconds`. */
export function videoTasks(
  probe: VideoProbe,
  o: { maxFps: number | null; segmentSeconds: number; split: boolean },
): number[] {
  const rate = probe.fps.num / probe.fps.den;
  const frames = probe.frameCount ?? (probe.durationSec ? Math.floor(probe.durationSec * rate) : 0);
  const kept = (from: number, to: number) =>
    keptFrames(to, probe.fps, o.maxFps) - keptFrames(from, probe.fps, o.maxFps);
  const per = Math.max(1, Math.round(o.segmentSeconds * rate));
  if (!o.split || o.segmentSeconds <= 0 || frames <= per) return [kept(0, frames)];
  const out: number[] = [];
  for (let start = 0; start < frames; start += per) out.push(kept(start, Math.min(frames, start + per)));
  return out;
}

/** The whole video job's tasks, from the probes stored with the batch's videos. */
export async function videoJobPlan(
  batches: BatchesRepo,
  ws: string,
  input: { batchId: string; part: string },
  o: { maxFps: number | null; segmentSeconds: number; split: boolean },
): Promise<JobPlan> {
  const files = await batches.count(ws, input.batchId, input.part);
  const taskUnits: number[] = [];
  const probedFrames: number[] = [];
  let read = 0;
  let token: string | null = null;
  do {
    const page = await batches.listFiles(ws, input.batchId, input.part, token, 1000);
    for (const { file } of page.items) {
      read++;
      if (!file.video) continue;
      const tasks = videoTasks(file.video, o);
      taskUnits.push(...tasks);
      probedFrames.push(tasks.reduce((a, x) => a + x, 0));
    }
    token = read < MAX_VIDEO_RECORDS ? page.next : null;
  } while (token);
  const extrapolatedFiles = files - probedFrames.length;
  const mean = probedFrames.length ? probedFrames.reduce((a, x) => a + x, 0) / probedFrames.length : 0;
  for (let i = 0; i < extrapolatedFiles; i++) taskUnits.push(Math.round(mean));
  return { files, taskUnits, extrapolatedFiles };
}
