/**
 * Deterministic synthetic data: images of coloured squares with ground truth, a short
 * H.264 clip of moving squares with per-frame ground truth, and a JPEG corpus for benchmarks.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import sharp from 'sharp';
import { Rng } from './prng.ts';
import {
  BACKGROUND_RGB,
  checkLayout,
  letterbox,
  RECOMMENDED_SIZE_BANDS,
  type Rgb,
  SHAPE_CLASSES,
  type SquareRect,
} from './shapes.ts';

/** A ground-truth box: centre (x, y) and size, in original-image pixels. */
export interface GroundTruthBox {
  class: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface TrackedBox extends GroundTruthBox {
  trackId: number;
}

/** Image sizes cycled through by the generator (all letterbox to integral sizes). */
export const DATASET_IMAGE_SIZES: readonly (readonly [number, number])[] = [
  [640, 640],
  [1280, 720],
  [640, 480],
  [480, 640],
  [1024, 768],
  [720, 1280],
  [800, 1200],
  [1920, 1080],
];

/** Renders squares (integer coordinates, crisp edges) on a plain background into raw RGB. */
export function renderSquares(
  width: number,
  height: number,
  squares: readonly SquareRect[],
  background: Rgb = BACKGROUND_RGB,
): Buffer {
  const buf = Buffer.alloc(width * height * 3);
  const row = Buffer.alloc(width * 3);
  for (let x = 0; x < width; x++) row.set(background, x * 3);
  for (let y = 0; y < height; y++) row.copy(buf, y * width * 3);
  for (const q of squares) {
    const rgb = SHAPE_CLASSES[q.classIndex].rgb;
    const x0 = Math.max(0, Math.round(q.x0));
    const y0 = Math.max(0, Math.round(q.y0));
    const x1 = Math.min(width, Math.round(q.x0 + q.size));
    const y1 = Math.min(height, Math.round(q.y0 + q.size));
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) buf.set(rgb, (y * width + x) * 3);
  }
  return buf;
}

export function toGroundTruth(q: SquareRect): GroundTruthBox {
  return {
    class: SHAPE_CLASSES[q.classIndex].name,
    x: q.x0 + q.size / 2,
    y: q.y0 + q.size / 2,
    width: q.size,
    height: q.size,
  };
}

/** Maps an original-image square into letterboxed 640 space (as the resize does). */
export function squareToLetterbox(q: SquareRect, width: number, height: number): SquareRect {
  const lb = letterbox(width, height);
  const sx = lb.newWidth / width;
  const sy = lb.newHeight / height;
  // Squares stay (nearly) square: sx and sy agree up to the floor() of the new size.
  const s = (sx + sy) / 2;
  return {
    classIndex: q.classIndex,
    x0: q.x0 * sx + lb.padLeft,
    y0: q.y0 * sy + lb.padTop,
    size: q.size * s,
  };
}

/**
 * Random layout of `count` squares inside width x height whose letterboxed sizes lie in the
 * recommended shapes-det bands and that shapes-det resolves unambiguously (see checkLayout).
 * Falls back to fewer squares when no layout is found; always returns >= 1 square.
 */
export function randomLayout(
  rng: Rng,
  width: number,
  height: number,
  count: number,
  maxTries = 400,
): SquareRect[] {
  const lb = letterbox(width, height);
  for (let n = count; n >= 1; n--) {
    for (let attempt = 0; attempt < maxTries; attempt++) {
      const squares: SquareRect[] = [];
      for (let i = 0; i < n; i++) {
        const band = rng.pick(RECOMMENDED_SIZE_BANDS);
        const target = rng.uniform(band[0], band[1]);
        const size = Math.max(2, Math.round(target / lb.scale));
        const margin = Math.ceil(3 / lb.scale);
        if (size + 2 * margin > Math.min(width, height)) continue;
        squares.push({
          classIndex: rng.int(0, SHAPE_CLASSES.length - 1),
          x0: rng.int(margin, width - size - margin),
          y0: rng.int(margin, height - size - margin),
          size,
        });
      }
      if (squares.length !== n) continue;
      // Keep at least 6 px (original) between any two squares, whatever the classes.
      const apart = squares.every((a, i) =>
        squares.every(
          (b, j) =>
            j <= i ||
            a.x0 + a.size + 6 <= b.x0 ||
            b.x0 + b.size + 6 <= a.x0 ||
            a.y0 + a.size + 6 <= b.y0 ||
            b.y0 + b.size + 6 <= a.y0,
        ),
      );
      if (!apart) continue;
      const inBox = squares.map((q) => squareToLetterbox(q, width, height));
      if (checkLayout(inBox).ok) return squares;
    }
  }
  throw new Error(`no layout found for ${width}x${height}`);
}

export interface ImageDatasetOptions {
  dir: string;
  count: number;
  seed?: number;
  /** JPEG quality (default 95). */
  quality?: number;
  /** Every n-th image is a PNG (default 4; 0 = JPEG only). */
  pngEvery?: number;
  sizes?: readonly (readonly [number, number])[];
}

export interface ImageDatasetResult {
  dir: string;
  files: string[];
  groundTruthPath: string;
  groundTruth: Record<string, GroundTruthBox[]>;
}

/** Writes `count` images + `ground-truth.json` (file name -> boxes) into `dir`. */
export async function generateImageDataset(opts: ImageDatasetOptions): Promise<ImageDatasetResult> {
  const seed = opts.seed ?? 1;
  const sizes = opts.sizes ?? DATASET_IMAGE_SIZES;
  const pngEvery = opts.pngEvery ?? 4;
  await mkdir(opts.dir, { recursive: true });
  const rng = new Rng(seed);
  const files: string[] = [];
  const groundTruth: Record<string, GroundTruthBox[]> = {};
  for (let i = 0; i < opts.count; i++) {
    const [width, height] = sizes[i % sizes.length];
    const squares = randomLayout(rng, width, height, rng.int(1, 4));
    const png = pngEvery > 0 && i % pngEvery === pngEvery - 1;
    const name = `img-${String(i).padStart(4, '0')}-${width}x${height}.${png ? 'png' : 'jpg'}`;
    const raw = renderSquares(width, height, squares);
    const img = sharp(raw, { raw: { width, height, channels: 3 } });
    const data = png
      ? await img.png({ compressionLevel: 6 }).toBuffer()
      : await img.jpeg({ quality: opts.quality ?? 95, chromaSubsampling: '4:4:4' }).toBuffer();
    await writeFile(join(opts.dir, name), data);
    files.push(name);
    groundTruth[name] = squares.map(toGroundTruth);
  }
  const groundTruthPath = join(opts.dir, 'ground-truth.json');
  await writeFile(groundTruthPath, `${JSON.stringify(groundTruth, null, 2)}\n`);
  return { dir: opts.dir, files, groundTruthPath, groundTruth };
}

/** Writes raw RGB frames into an H.264 MP4 via ffmpeg. */
export async function encodeRawVideo(
  path: string,
  width: number,
  height: number,
  fps: number,
  frames: Iterable<Buffer>,
  extraArgs: readonly string[] = [],
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${width}x${height}`,
    '-r',
    String(fps),
    '-i',
    'pipe:0',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    ...extraArgs,
    '-map_metadata',
    '-1',
    '-fflags',
    '+bitexact',
    '-flags:v',
    '+bitexact',
    '-movflags',
    '+faststart',
    path,
  ];
  const proc = spawn('ffmpeg', args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  const closed = once(proc, 'close');
  let writeError: unknown;
  proc.stdin.on('error', (e) => {
    writeError = e;
  });
  for (const frame of frames) {
    if (writeError) break;
    if (!proc.stdin.write(frame)) await Promise.race([once(proc.stdin, 'drain'), closed]);
  }
  proc.stdin.end();
  const [code] = await closed;
  if (code !== 0) throw new Error(`ffmpeg exited with ${code}: ${stderr.trim() || String(writeError)}`);
}

export interface VideoOptions {
  path: string;
  seconds?: number;
  fps?: number;
  width?: number;
  height?: number;
  seed?: number;
  /** Number of squares (1–3; default 2 or 3, drawn from the seed). Each square has its own class. */
  squares?: number;
}

export interface VideoGroundTruth {
  video: string;
  width: number;
  height: number;
  fps: number;
  frameCount: number;
  /** Frame index (as string) -> boxes, original pixels, centre + size, stable trackId. */
  frames: Record<string, TrackedBox[]>;
}

export interface VideoResult {
  path: string;
  groundTruthPath: string;
  groundTruth: VideoGroundTruth;
}

interface Mover {
  classIndex: number;
  size: number;
  x: number;
  y: number;
  vx: number;
  vy: number;
  lane: [number, number];
}

function bounce(p: number, v: number, lo: number, hi: number): [number, number] {
  let np = p + v;
  let nv = v;
  if (np < lo) {
    np = 2 * lo - np;
    nv = -nv;
  }
  if (np > hi) {
    np = 2 * hi - np;
    nv = -nv;
  }
  return [np, nv];
}

/**
 * Renders 1–3 squares (distinct classes) moving at constant velocity and bouncing inside
 * their own horizontal lane, writes `<path>` (H.264, yuv420p) and `<path minus ext>.json`.
 */
export async function generateVideo(opts: VideoOptions): Promise<VideoResult> {
  const seconds = opts.seconds ?? 3;
  const fps = opts.fps ?? 30;
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const rng = new Rng(opts.seed ?? 1);
  const frameCount = Math.round(seconds * fps);
  const lb = letterbox(width, height);
  const margin = Math.ceil(3 / lb.scale);

  let states: Mover[][] = [];
  for (let attempt = 0; ; attempt++) {
    if (attempt > 200) throw new Error('could not find a valid video layout');
    const n = Math.min(3, Math.max(1, opts.squares ?? rng.int(2, 3)));
    const classes = SHAPE_CLASSES.map((_, i) => i);
    // Deterministic shuffle of the class order.
    for (let i = classes.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [classes[i], classes[j]] = [classes[j], classes[i]];
    }
    const laneH = height / n;
    const movers: Mover[] = [];
    for (let i = 0; i < n; i++) {
      const lane: [number, number] = [Math.round(i * laneH), Math.round((i + 1) * laneH)];
      const band = rng.pick(RECOMMENDED_SIZE_BANDS);
      const maxSize = Math.floor((lane[1] - lane[0] - 2 * margin - 8) * lb.scale);
      const target = Math.min(rng.uniform(band[0], band[1]), maxSize);
      const size = Math.round(target / lb.scale);
      const speed = rng.uniform(1.5, 4) / lb.scale;
      const angle = rng.uniform(0, 1);
      movers.push({
        classIndex: classes[i % classes.length],
        size,
        x: rng.uniform(margin, width - size - margin),
        y: rng.uniform(lane[0] + margin, lane[1] - size - margin),
        vx: speed * (rng.next() < 0.5 ? -1 : 1) * (0.6 + 0.4 * angle),
        vy: speed * (rng.next() < 0.5 ? -1 : 1) * (0.2 + 0.5 * (1 - angle)),
        lane,
      });
    }
    if (movers.some((m) => m.size * lb.scale < RECOMMENDED_SIZE_BANDS[0][0])) continue;
    states = [];
    let cur = movers;
    for (let f = 0; f < frameCount; f++) {
      states.push(cur);
      cur = cur.map((m) => {
        const [x, vx] = bounce(m.x, m.vx, margin, width - m.size - margin);
        const [y, vy] = bounce(m.y, m.vy, m.lane[0] + margin, m.lane[1] - m.size - margin);
        return { ...m, x, y, vx, vy };
      });
    }
    const rects = (ms: Mover[]): SquareRect[] =>
      ms.map((m) => ({ classIndex: m.classIndex, x0: Math.round(m.x), y0: Math.round(m.y), size: m.size }));
    // Validate every 3rd frame (and the last) against the analytic detector.
    const ok = states.every(
      (ms, f) =>
        (f % 3 !== 0 && f !== frameCount - 1) ||
        checkLayout(rects(ms).map((q) => squareToLetterbox(q, width, height))).ok,
    );
    if (ok) break;
  }

  const frames: Record<string, TrackedBox[]> = {};
  const rectsPerFrame = states.map((ms) =>
    ms.map((m) => ({ classIndex: m.classIndex, x0: Math.round(m.x), y0: Math.round(m.y), size: m.size })),
  );
  rectsPerFrame.forEach((rs, f) => {
    frames[String(f)] = rs.map((q, i) => ({ trackId: i + 1, ...toGroundTruth(q) }));
  });
  function* frameGen() {
    for (const rs of rectsPerFrame) yield renderSquares(width, height, rs);
  }
  await encodeRawVideo(opts.path, width, height, fps, frameGen(), ['-crf', '18']);
  const groundTruth: VideoGroundTruth = {
    video: basename(opts.path),
    width,
    height,
    fps,
    frameCount,
    frames,
  };
  const ext = extname(opts.path);
  const groundTruthPath = `${ext ? opts.path.slice(0, -ext.length) : opts.path}.json`;
  await writeFile(groundTruthPath, `${JSON.stringify(groundTruth)}\n`);
  return { path: opts.path, groundTruthPath, groundTruth };
}

export interface JpegCorpusOptions {
  dir: string;
  count: number;
  seed?: number;
  width?: number;
  height?: number;
  quality?: number;
  /** Also write `clip-1080p30.mp4` of this many seconds (default: no clip). */
  videoSeconds?: number;
  videoFps?: number;
}

export interface JpegCorpusResult {
  dir: string;
  files: string[];
  bytes: number[];
  video?: string;
}

/** Noisy gradient texture with a few flat rectangles; noise amplitude controls the JPEG size. */
export function renderNoisyGradient(rng: Rng, width: number, height: number, noise: number): Buffer {
  const buf = Buffer.alloc(width * height * 3);
  const c0 = [rng.int(0, 255), rng.int(0, 255), rng.int(0, 255)];
  const c1 = [rng.int(0, 255), rng.int(0, 255), rng.int(0, 255)];
  const dx = rng.uniform(-1, 1);
  const dy = rng.uniform(-1, 1);
  const norm = Math.abs(dx) * width + Math.abs(dy) * height || 1;
  const off = (dx < 0 ? -dx * width : 0) + (dy < 0 ? -dy * height : 0);
  // Noise from a small tile of random values, with a per-row offset so it does not repeat visibly.
  const tile = new Int16Array(4096);
  for (let i = 0; i < tile.length; i++) tile[i] = Math.round((rng.next() * 2 - 1) * noise);
  let i = 0;
  for (let y = 0; y < height; y++) {
    const rowOff = rng.int(0, 4095);
    for (let x = 0; x < width; x++) {
      const t = (dx * x + dy * y + off) / norm;
      for (let c = 0; c < 3; c++) {
        const v = c0[c] + (c1[c] - c0[c]) * t + tile[(rowOff + x * 3 + c) & 4095];
        buf[i++] = Math.min(255, Math.max(0, v));
      }
    }
  }
  const rects = rng.int(2, 6);
  for (let r = 0; r < rects; r++) {
    const w = rng.int(width >> 4, width >> 2);
    const h = rng.int(height >> 4, height >> 2);
    const x0 = rng.int(0, width - w);
    const y0 = rng.int(0, height - h);
    const col = [rng.int(0, 255), rng.int(0, 255), rng.int(0, 255)];
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) buf.set(col, (y * width + x) * 3);
  }
  return buf;
}

/** N JPEGs (default 1920x1080, q90, ~100–700 KB) of noisy gradients, optionally a 1080p30 clip. */
export async function generateJpegCorpus(opts: JpegCorpusOptions): Promise<JpegCorpusResult> {
  const width = opts.width ?? 1920;
  const height = opts.height ?? 1080;
  const rng = new Rng(opts.seed ?? 1);
  await mkdir(opts.dir, { recursive: true });
  const files: string[] = [];
  const bytes: number[] = [];
  for (let i = 0; i < opts.count; i++) {
    const noise = rng.uniform(4, 20);
    const raw = renderNoisyGradient(rng, width, height, noise);
    const data = await sharp(raw, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: opts.quality ?? 90 })
      .toBuffer();
    const name = `frame-${String(i).padStart(5, '0')}.jpg`;
    await writeFile(join(opts.dir, name), data);
    files.push(name);
    bytes.push(data.length);
  }
  let video: string | undefined;
  if (opts.videoSeconds && opts.videoSeconds > 0) {
    const fps = opts.videoFps ?? 30;
    video = join(opts.dir, `clip-${height}p${fps}.mp4`);
    const base = renderNoisyGradient(rng, width * 2, height, 8);
    const frameCount = Math.round(opts.videoSeconds * fps);
    // Light per-frame grain (from a random tile) so the clip has a realistic bitrate.
    const grain = new Int8Array(8192);
    for (let i = 0; i < grain.length; i++) grain[i] = rng.int(-8, 8);
    const offsets = Array.from({ length: frameCount * height }, () => rng.int(0, 8191));
    function* frames() {
      for (let f = 0; f < frameCount; f++) {
        // A fresh buffer per frame: the pipe may still hold the previous one.
        const frame = Buffer.alloc(width * height * 3);
        const shift = (f * 8) % width;
        for (let y = 0; y < height; y++) {
          const src = (y * width * 2 + shift) * 3;
          const dst = y * width * 3;
          const off = offsets[f * height + y];
          for (let i = 0; i < width * 3; i++)
            frame[dst + i] = Math.min(255, Math.max(0, base[src + i] + grain[(off + i) & 8191]));
        }
        yield frame;
      }
    }
    await encodeRawVideo(video, width, height, fps, frames(), ['-crf', '23']);
  }
  return { dir: opts.dir, files, bytes, video };
}
