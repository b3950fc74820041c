import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FfmpegFrameSource, type FrameSource } from '@visionbatch/engine/video/frame-source';
import type { BatchesRepo, VideoProbe } from '@visionbatch/shared/batches-repo';
import type { Logger } from '@visionbatch/shared/logger';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';

/** A frame range [start, end) of a video, or null for the whole video. */
export type FrameRange = { start: number; end: number } | null;

export interface VideoSegmentsDeps {
  store: ObjectStore;
  batches: BatchesRepo;
  logger: Logger;
  frames?: FrameSource;
  /** segment length in seconds; 0 = never split */
  segmentSeconds: number;
}

/**
 * Frame ranges of one staged video: `[null]` (whole video) when it is short or cannot be probed
 * (the worker then reports the problem), else consecutive [start, end) ranges of `segmentSeconds`,
 * so every frame is in exactly one segment. Deterministic, so a re-plan after a crash produces the
 * same task ids.
 */
export async function videoSegments(
  d: VideoSegmentsDeps,
  ws: string,
  input: { batchId: string; part: string },
  name: string,
): Promise<FrameRange[]> {
  try {
    const info = await videoProbe(d, ws, input, name);
    const frames =
      info.frameCount ??
      (info.durationSec ? Math.floor((info.durationSec * info.fps.num) / info.fps.den) : 0);
    const per = Math.max(1, Math.round((d.segmentSeconds * info.fps.num) / info.fps.den));
    if (frames <= per) return [null];
    const out: Array<{ start: number; end: number }> = [];
    for (let start = 0; start < frames; start += per) out.push({ start, end: Math.min(frames, start + per) });
    // the last segment runs to the end of the stream, in case the container undercounts frames
    out[out.length - 1].end = Number.MAX_SAFE_INTEGER;
    return out;
  } catch (err) {
    d.logger.warn(
      { workspace: ws, video: name, err: (err as Error).message },
      'could not probe video; one task for all of it',
    );
    return [null];
  }
}

/** Frames a sample of a video that cannot be probed runs: its first seconds at up to 60 fps. */
const UNPROBED_SAMPLE_FPS = 60;

/**
 * The frame range of a cost estimate's sample of a video: its first `seconds` (the probe stored for
 * later jobs), or null (the whole video) when it is shorter than that.
 */
export async function videoSampleRange(
  d: VideoSegmentsDeps,
  ws: string,
  input: { batchId: string; part: string },
  name: string,
  seconds: number,
): Promise<FrameRange> {
  let end = Math.ceil(seconds * UNPROBED_SAMPLE_FPS);
  try {
    const info = await videoProbe(d, ws, input, name);
    end = Math.max(1, Math.round((seconds * info.fps.num) / info.fps.den));
    if (info.frameCount !== null && info.frameCount <= end) return null;
  } catch (err) {
    d.logger.warn(
      { workspace: ws, video: name, err: (err as Error).message },
      'could not probe the sample video; its first frames at most',
    );
  }
  return { start: 0, end };
}

/** Probes a staged video unless its probe is stored (and stores it); false when it cannot be probed. */
export async function probeVideo(
  d: VideoSegmentsDeps,
  ws: string,
  input: { batchId: string; part: string },
  name: string,
): Promise<boolean> {
  try {
    await videoProbe(d, ws, input, name);
    return true;
  } catch (err) {
    d.logger.warn({ workspace: ws, video: name, err: (err as Error).message }, 'could not probe video');
    return false;
  }
}

/**
 * The probe stored with the video's record (reference ingests probe at ingest). A video staged
 * without one (uploaded by signed URL) is downloaded and probed here once, and the probe stored.
 */
async function videoProbe(
  d: VideoSegmentsDeps,
  ws: string,
  input: { batchId: string; part: string },
  name: string,
): Promise<VideoProbe> {
  const stored = await d.batches.getVideoProbe(ws, input.batchId, input.part, name);
  if (stored) return stored;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-probe-'));
  try {
    const local = path.join(dir, 'video');
    await pipeline(
      await d.store.get(objectKeys.batchFile(ws, input.batchId, input.part, name)),
      createWriteStream(local),
    );
    const { width, height, fps, frameCount, durationSec } = await (d.frames ?? new FfmpegFrameSource()).probe(
      local,
    );
    const probe = { width, height, fps, frameCount, durationSec };
    await d.batches.setVideoProbe(ws, input.batchId, input.part, name, probe);
    return probe;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
