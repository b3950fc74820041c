import { Worker } from 'node:worker_threads';
import ffmpeg from 'fluent-ffmpeg';

/** What ffprobe says about a video's first video stream. */
export interface VideoInfo {
  width: number;
  height: number;
  /** declared frame rate as a fraction (e.g. 30000/1001), kept exact for frame selection */
  fps: { num: number; den: number };
  /** frames in the stream when the container says, else null */
  frameCount: number | null;
  durationSec: number | null;
  codec: string;
}

/** One decoded frame: RGB24 at the requested output size, with its source index and time. */
export interface Frame {
  /** 0-based index of the frame in the source (skipped frames still advance it) */
  index: number;
  /** index / declared fps, seconds */
  timestampSec: number;
  width: number;
  height: number;
  rgb: Buffer;
}

/** How the frame should come out of the decoder: scaled and padded inside ffmpeg, or at source size. */
export interface FrameLayout {
  width: number;
  height: number;
  resizeWidth: number;
  resizeHeight: number;
  offsetX: number;
  offsetY: number;
  padValue: number;
}

export interface FrameRequest {
  /** cap on processed frames per second (spec `maxVideoFPS`); null = every frame */
  maxFps: number | null;
  /** null = frames at source size */
  layout: FrameLayout | null;
  /** half-open range of source frame indices [start, end) for a segment; null = whole video */
  range?: { start: number; end: number } | null;
}

/** Raised when a video cannot be read at all, or breaks off; frames before the break were yielded. */
export class VideoDecodeError extends Error {
  constructor(
    readonly reason: 'video-unreadable' | 'video-truncated',
    message: string,
  ) {
    super(message);
    this.name = 'VideoDecodeError';
  }
}

/** The seam between the worker and whatever decodes video (fluent-ffmpeg is archived upstream). */
export interface FrameSource {
  probe(file: string): Promise<VideoInfo>;
  frames(file: string, info: VideoInfo, request: FrameRequest): AsyncGenerator<Frame>;
}

/** Frames the reader thread may hold beyond the one being processed (1080p RGB: 6.2 MB each). */
const FRAMES_AHEAD = 3;

type ReaderMessage = { type: 'frame'; data: ArrayBuffer } | { type: 'end'; code: number; stderr: string };

// maxFps as a rational with this denominator, so the selection is exact integer arithmetic in
// both JavaScript and ffmpeg's expression evaluator (doubles hold these integers exactly).
const FPS_DEN = 1000;

/**
 * Whether source frame `n` is processed under `maxFps`: frame n is kept when
 * floor(n·maxFps/fps) steps up at n (frame 0 always), which keeps frames 0, 6, 12, … of a
 * 30 fps video at maxFps 5, and every frame when maxFps ≥ fps.
 */
export function keepsFrame(n: number, fps: VideoInfo['fps'], maxFps: number | null): boolean {
  if (maxFps === null || maxFps * fps.den >= fps.num) return true;
  if (n === 0) return true;
  const f = Math.round(maxFps * FPS_DEN);
  const q = fps.num * FPS_DEN;
  return Math.floor((n * f * fps.den) / q) > Math.floor(((n - 1) * f * fps.den) / q);
}

/**
 * The select filter: sampled frames (by absolute source index `n + offset`, since an input seek
 * restarts `n` at the seek point) within `count` frames from the start of the decoded range.
 */
function selectExpr(
  fps: VideoInfo['fps'],
  maxFps: number | null,
  offset: number,
  count: number | null,
): string | null {
  const parts: string[] = [];
  if (maxFps !== null && maxFps * fps.den < fps.num) {
    const f = Math.round(maxFps * FPS_DEN);
    const q = fps.num * FPS_DEN;
    const n = offset ? `(n+${offset})` : 'n';
    parts.push(`(eq(${n}\\,0)+gt(floor(${n}*${f * fps.den}/${q})\\,floor((${n}-1)*${f * fps.den}/${q})))`);
  }
  if (count !== null) parts.push(`lt(n\\,${count})`);
  return parts.length ? `select='${parts.join('*')}'` : null;
}

const parseRate = (r: string | undefined): { num: number; den: number } | null => {
  const m = /^(\d+)\/(\d+)$/.exec(r ?? '');
  if (!m || Number(m[2]) === 0 || Number(m[1]) === 0) return null;
  return { num: Number(m[1]), den: Number(m[2]) };
};

/**
 * Frames from the ffmpeg command line: fluent-ffmpeg's ffprobe for metadata, and one ffmpeg
 * child per request that selects, scales and pads frames itself and writes raw RGB24 to a pipe
 * (scaling in ffmpeg costs far less than converting full frames in JavaScript).
 */
export class FfmpegFrameSource implements FrameSource {
  constructor(private readonly ffmpegPath = 'ffmpeg') {}

  probe(file: string): Promise<VideoInfo> {
    return new Promise((resolve, reject) => {
      ffmpeg.ffprobe(file, (err, data) => {
        if (err)
          return reject(
            new VideoDecodeError('video-unreadable', `ffprobe failed: ${String(err.message).split('\n')[0]}`),
          );
        const s = data.streams.find((x) => x.codec_type === 'video');
        const fps = parseRate(s?.r_frame_rate) ?? parseRate(s?.avg_frame_rate);
        if (!s || !s.width || !s.height || !fps)
          return reject(new VideoDecodeError('video-unreadable', 'no decodable video stream'));
        const frames = Number(s.nb_frames);
        const duration = Number(s.duration ?? data.format.duration);
        resolve({
          width: s.width,
          height: s.height,
          fps,
          frameCount: Number.isFinite(frames) && frames > 0 ? frames : null,
          durationSec: Number.isFinite(duration) ? duration : null,
          codec: s.codec_name ?? 'unknown',
        });
      });
    });
  }

  async *frames(file: string, info: VideoInfo, req: FrameRequest): AsyncGenerator<Frame> {
    const filters: string[] = [];
    // A segment starts with an input seek to its first frame (frame-accurate when decoding), so
    // later segments do not decode everything before them.
    const start = req.range?.start ?? 0;
    const count = req.range ? req.range.end - req.range.start : null;
    // half a frame early: the first kept frame is exactly `start` whatever the rounding
    const seek = start > 0 ? ['-ss', (((start - 0.5) * info.fps.den) / info.fps.num).toFixed(6)] : [];
    const sel = selectExpr(info.fps, req.maxFps, start, count);
    if (sel) filters.push(sel);
    const l = req.layout;
    if (l) {
      const hex = l.padValue.toString(16).padStart(2, '0');
      filters.push(`scale=${l.resizeWidth}:${l.resizeHeight}:flags=bilinear`);
      if (l.resizeWidth !== l.width || l.resizeHeight !== l.height)
        filters.push(`pad=${l.width}:${l.height}:${l.offsetX}:${l.offsetY}:color=0x${hex}${hex}${hex}`);
    }
    const width = l ? l.width : info.width;
    const height = l ? l.height : info.height;
    const args = [
      '-v',
      'error',
      '-nostdin',
      '-threads',
      '1',
      ...seek,
      '-i',
      file,
      ...(filters.length ? ['-vf', filters.join(',')] : []),
      '-fps_mode',
      'passthrough',
      '-an',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ];
    const frameBytes = width * height * 3;
    // ffmpeg is read in a thread of its own (see frame-reader-thread.mjs), at most FRAMES_AHEAD
    // frames ahead of this generator's consumer
    const reader = new Worker(new URL('./frame-reader-thread.mjs', import.meta.url), {
      workerData: { ffmpegPath: this.ffmpegPath, args, frameBytes, ahead: FRAMES_AHEAD },
    });
    const queue: ReaderMessage[] = [];
    let wake: (() => void) | null = null;
    const push = (m: ReaderMessage) => {
      queue.push(m);
      wake?.();
      wake = null;
    };
    reader.on('message', push);
    reader.once('error', (err) =>
      push({ type: 'end', code: -1, stderr: `frame reader failed: ${err.message}` }),
    );
    const exited = new Promise<void>((resolve) =>
      reader.once('exit', () => {
        push({ type: 'end', code: -1, stderr: 'the frame reader thread exited early' });
        resolve();
      }),
    );
    // Source indices of the frames ffmpeg will emit, in order (same rule as its select filter).
    let n = req.range ? req.range.start : 0;
    const nextIndex = () => {
      while (!keepsFrame(n, info.fps, req.maxFps)) n++;
      return n++;
    };
    let yielded = 0;
    let end: Extract<ReaderMessage, { type: 'end' }> | null = null;
    try {
      while (!end) {
        if (queue.length === 0) await new Promise<void>((r) => (wake = r));
        const m = queue.shift() as ReaderMessage;
        if (m.type === 'end') {
          end = m;
          break;
        }
        reader.postMessage({ type: 'credit' });
        const index = nextIndex();
        yielded++;
        const rgb = Buffer.from(m.data);
        yield { index, timestampSec: (index * info.fps.den) / info.fps.num, width, height, rgb };
      }
    } finally {
      // stopped early: the thread kills ffmpeg and ends; wait for it so no ffmpeg outlives the call
      if (!end) reader.postMessage({ type: 'stop' });
      else void reader.terminate();
      await exited;
    }
    const { code, stderr } = end as Extract<ReaderMessage, { type: 'end' }>;
    if (code !== 0 || stderr.trim()) {
      const why = stderr.trim().split('\n').slice(-2).join(' | ') || `ffmpeg exited with ${code}`;
      throw new VideoDecodeError(
        yielded === 0 && code !== 0 ? 'video-unreadable' : 'video-truncated',
        `after ${yielded} frames: ${why}`,
      );
    }
  }
}
