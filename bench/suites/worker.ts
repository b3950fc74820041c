import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { decodeImage, toRgb } from '@visionbatch/engine/image-decode';
import { planGeometry, preprocess, writeChw } from '@visionbatch/engine/preprocess';
import { FfmpegFrameSource } from '@visionbatch/engine/video/frame-source';
import { decodeYoloV8, mapBoxesToSource } from '@visionbatch/engine/yolo-decode';
import {
  buildYolov8nArch,
  COCO_CLASS_NAMES,
  detectionWorkflow,
  generateJpegCorpus,
} from '@visionbatch/models';
import { createLogger } from '@visionbatch/shared/logger';
import { objectKeys } from '@visionbatch/shared/object-keys';
import { createObjectStore } from '@visionbatch/shared/object-store/index';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import type { ImageTask, JobContext, Task, VideoTask } from '@visionbatch/shared/tasks';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { SlotPool } from '../../services/worker/src/slot-pool.ts';
import type { Suite } from './index.ts';

const WS = 'bench';
const RUNS = Number(process.env.VB_BENCH_RUNS ?? 5);
const IMAGES = Number(process.env.VB_BENCH_IMAGES ?? 48);
/** Seconds of the generated 1080p30 H.264 clip. */
const VIDEO_SECONDS = Number(process.env.VB_BENCH_VIDEO_SECONDS ?? 4);
/** Which parts to run (comma-separated `images,images640,video`; default all), for quick iterations. */
const PARTS = new Set((process.env.VB_BENCH_WORKER_PARTS ?? 'images,images640,video').split(','));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, d = 2) => Number(x.toFixed(d));

/** Images/s of `threads` worker threads, each with its own 1-thread session, for `seconds`. */
async function parallelSessions(model: Uint8Array, threads: number, seconds: number): Promise<number> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const ort = require('onnxruntime-node');
    (async () => {
      const s = await ort.InferenceSession.create(workerData.model, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
      const x = new ort.Tensor('float32', new Float32Array(3 * 640 * 640).fill(0.5), [1, 3, 640, 640]);
      for (let i = 0; i < 2; i++) await s.run({ images: x });
      parentPort.postMessage('ready');
      await new Promise((r) => parentPort.once('message', r));
      const t0 = performance.now(); let n = 0;
      while (performance.now() - t0 < workerData.ms) { await s.run({ images: x }); n++; }
      parentPort.postMessage(n / ((performance.now() - t0) / 1000));
    })();`;
  const workers = Array.from(
    { length: threads },
    () => new Worker(code, { eval: true, workerData: { model, ms: seconds * 1000 } }),
  );
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  const rates = workers.map((w) => new Promise<number>((r) => w.once('message', r)));
  for (const w of workers) w.postMessage('go');
  const total = (await Promise.all(rates)).reduce((a, b) => a + b, 0);
  await Promise.all(workers.map((w) => w.terminate()));
  return total;
}

async function oneSession(model: Uint8Array, threads: number | undefined, seconds: number): Promise<number> {
  const s = await ort.InferenceSession.create(model, {
    ...(threads ? { intraOpNumThreads: threads } : {}),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const x = new ort.Tensor('float32', new Float32Array(3 * 640 * 640).fill(0.5), [1, 3, 640, 640]);
  for (let i = 0; i < 2; i++) await s.run({ images: x });
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await s.run({ images: x });
    n++;
  }
  await s.release();
  return n / ((performance.now() - t0) / 1000);
}

/** CPU seconds (user + system) of this process and of its reaped children, from /proc/self/stat. */
function cpuSeconds(): { self: number; children: number } {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // fields[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17 (clock ticks, 100/s)
  const tick = (i: number) => Number(fields[i - 3]) / 100;
  return { self: tick(14) + tick(15), children: tick(16) + tick(17) };
}

/** The job context of the bench jobs: one detection step on the input image, JSONL results. */
function jobContext(
  record: ModelRecord,
  jobType: JobContext['jobType'],
  maxVideoFPS: number | null,
): JobContext {
  return {
    workspace: WS,
    jobId: 'bench',
    jobType,
    workflow: detectionWorkflow('bench/yolov8n'),
    models: { 'bench/yolov8n': record },
    workflowParameters: {},
    imageInputName: null,
    aggregationFormat: 'jsonl',
    persistImagesOutputs: false,
    imagesOutputsToBePersisted: null,
    maxVideoFPS,
    maxImageFailureRate: null,
    machineType: 'cpu',
  };
}

/** Cores this process and its children kept busy on average between two {@link cpuSeconds}. */
function busyCores(a: ReturnType<typeof cpuSeconds>, b: ReturnType<typeof cpuSeconds>, wall: number): number {
  return (b.self - a.self + b.children - a.children) / wall;
}

/** Runs `tasks` on the pool, `pool.size` at a time; returns the outcomes' processed count. */
async function runOnPool(pool: SlotPool, tasks: Task[]): Promise<number> {
  let next = 0;
  let processed = 0;
  await Promise.all(
    Array.from({ length: pool.size }, async () => {
      while (next < tasks.length) {
        const t = tasks[next++];
        const o = await pool.run(t, () => {});
        if (o.failures.length) throw new Error(`bench task failed: ${JSON.stringify(o.failures[0])}`);
        processed += o.processed;
      }
    }),
  );
  return processed;
}

/** A small image staged once, which every slot runs before the timed runs. */
const WARMUP = { batchId: 'warmup', file: 'warmup.png' };

/**
 * Has every slot of `pool` load the models (a slot loads them on its first image or video task),
 * so that no timed run includes the load.
 */
async function loadModelsInEverySlot(pool: SlotPool): Promise<void> {
  const tasks: ImageTask[] = Array.from({ length: pool.size }, (_, i) => ({
    kind: 'images',
    stage: 'processing',
    taskId: `warmup${i}`,
    input: { batchId: WARMUP.batchId, part: '', files: [WARMUP.file] },
    output: { batchId: 'warmup-out', part: 'results', fileName: `warmup${i}.jsonl` },
  }));
  // run() takes a free slot at once, so the tasks started together land on different slots
  await Promise.all(tasks.map((t) => pool.run(t, () => {})));
}

/**
 * What pre-processing cost before it was made exact (kept to show the price of exactness in the
 * same run): libvips' bilinear straight from the JPEG bytes with shrink-on-load (a 1080p JPEG
 * decodes at half size), then the CHW conversion.
 */
async function libvipsLetterbox(bytes: Buffer, tensor: Float32Array): Promise<void> {
  const img = await decodeImage(bytes);
  const g = planGeometry(img.width, img.height, {
    width: 640,
    height: 640,
    mode: 'letterbox',
    paddingValue: 114,
  });
  const pipeline = sharp(bytes)
    .rotate()
    .resize(g.resizeWidth, g.resizeHeight, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true });
  const { data } = await toRgb(pipeline).toBuffer({ resolveWithObject: true });
  writeChw(tensor, 0, 640, 640, data, g.resizeWidth, g.resizeHeight, g.offsetX, g.offsetY, 114);
}

/**
 * The worker's image pipeline against its compute bound on this machine, all measured in one
 * run: model-only throughput (best thread layout), decode-only cost, the bound
 * B = cores / (core-seconds per image of model + decode), the worker's end-to-end throughput
 * (staged objects → written results, slots in worker threads) and a naive single-process loop.
 */
/**
 * Video: a generated H.264 1080p30 clip, `cores` copies staged as one video job (one task per
 * video, one slot each). Decode cost = CPU seconds of the worker's FrameSource (ffmpeg -threads 1,
 * letterbox to 640 inside ffmpeg, plus the CHW conversion) per processed frame; at maxVideoFPS 5
 * every source frame is still decoded and one in six is scaled and inferred.
 */
async function videoPart(o: {
  dir: string;
  store: Awaited<ReturnType<typeof createObjectStore>>;
  record: ModelRecord;
  cores: number;
  modelCoreSec: number;
}): Promise<{ video30: Record<string, unknown>; video5: Record<string, unknown> }> {
  const { dir, store, record, cores, modelCoreSec } = o;
  const src = new FfmpegFrameSource();
  const out: Record<string, Record<string, unknown>> = {};
  // at maxVideoFPS 5 the clip is twice as long, so both parts infer a similar number of frames
  for (const [label, maxFps, seconds] of [
    ['video30', null, VIDEO_SECONDS],
    ['video5', 5, 2 * VIDEO_SECONDS],
  ] as const) {
    console.error(`${label}: clip ...`);
    const clip = path.join(dir, `${label}.mp4`);
    const gen = spawnSync(
      'ffmpeg',
      [
        ...['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=1920x1080:rate=30:duration=${seconds}`],
        ...['-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '5M', '-pix_fmt', 'yuv420p', '-y', clip],
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    if (gen.status !== 0) throw new Error(`ffmpeg could not generate the bench clip (exit ${gen.status})`);
    const batchId = `in-${label}`;
    const files = Array.from({ length: cores }, (_, i) => `clip${i}.mp4`);
    for (const f of files) await store.put(objectKeys.batchFile(WS, batchId, '', f), fs.readFileSync(clip));
    const info = await src.probe(clip);
    const g = planGeometry(info.width, info.height, {
      width: 640,
      height: 640,
      mode: 'letterbox',
      paddingValue: 114,
    });
    // ffmpeg scales to the letterboxed size; the CHW write adds the padding (as the worker does)
    const layout = {
      width: g.resizeWidth,
      height: g.resizeHeight,
      resizeWidth: g.resizeWidth,
      resizeHeight: g.resizeHeight,
      offsetX: 0,
      offsetY: 0,
      padValue: 114,
    };
    // decode-only: ffmpeg decode (+ scale of the kept frames) and CHW, CPU seconds per processed frame
    console.error(`${label}: decode-only ...`);
    const tensor = new Float32Array(3 * 640 * 640);
    const decodeRuns: number[] = [];
    const decodeFfmpeg: number[] = [];
    let kept = 0;
    for (let r = 0; r < RUNS; r++) {
      const c0 = cpuSeconds();
      kept = 0;
      for await (const f of src.frames(clip, info, { maxFps, layout })) {
        writeChw(tensor, 0, 640, 640, f.rgb, g.resizeWidth, g.resizeHeight, g.offsetX, g.offsetY, 114);
        kept++;
      }
      const c1 = cpuSeconds();
      decodeRuns.push((c1.self - c0.self + c1.children - c0.children) / kept);
      decodeFfmpeg.push((c1.children - c0.children) / kept);
    }
    const decodeCoreSec = median(decodeRuns);
    const bound = cores / (modelCoreSec + decodeCoreSec);

    console.error(`${label}: end-to-end ...`);
    const { pool } = await SlotPool.start(
      cores,
      {
        context: jobContext(record, 'simple-video-processing-v1', maxFps),
        store: { driver: 'fs', dir: path.join(dir, 'store') },
        intraOpNumThreads: 1,
        cacheDir: path.join(dir, 'cache'),
      },
      createLogger('bench', 'warn'),
    );
    await loadModelsInEverySlot(pool);
    const e2eRuns: number[] = [];
    const e2eBusy: number[] = [];
    /** [worker process, ffmpeg children] CPU seconds per processed frame, per run */
    const e2eCpu: [number, number][] = [];
    try {
      for (let r = 0; r < RUNS; r++) {
        const tasks: VideoTask[] = files.map((f, i) => ({
          kind: 'video',
          stage: 'processing',
          taskId: `${label}r${r}v${i}`,
          input: { batchId, part: '', files: [f], range: null },
          output: { batchId: `out-${label}`, part: 'results', fileName: `r${r}-${f}.jsonl` },
        }));
        const c0 = cpuSeconds();
        const t0 = performance.now();
        const processed = await runOnPool(pool, tasks);
        if (processed !== kept * files.length)
          throw new Error(`${label}: ${processed} frames processed, expected ${kept * files.length}`);
        const wall = (performance.now() - t0) / 1000;
        const c1 = cpuSeconds();
        e2eRuns.push(processed / wall);
        e2eBusy.push(busyCores(c0, c1, wall));
        e2eCpu.push([(c1.self - c0.self) / processed, (c1.children - c0.children) / processed]);
      }
    } finally {
      await pool.close();
    }
    const e2e = median(e2eRuns);
    const sourceFrames = info.frameCount ?? Math.round(seconds * 30);
    out[label] = {
      width: info.width,
      height: info.height,
      sourceFps: info.fps.num / info.fps.den,
      maxVideoFPS: maxFps,
      videos: files.length,
      sourceFramesPerVideo: sourceFrames,
      videoSeconds: seconds,
      processedFramesPerVideo: kept,
      decodeMsPerProcessedFrame: round(decodeCoreSec * 1000),
      decodeFfmpegMsPerProcessedFrame: round(median(decodeFfmpeg) * 1000),
      decodeMsPerSourceFrame: round(((decodeCoreSec * kept) / sourceFrames) * 1000),
      modelMsPerFrame1Thread: round(modelCoreSec * 1000),
      boundFramesPerSec: round(bound),
      endToEndFramesPerSec: round(e2e),
      endToEndRuns: e2eRuns.map((x) => round(x)),
      endToEndCoresBusy: round(median(e2eBusy)),
      // where the CPU went end to end: the worker (inference, reading frames, results), ffmpeg
      endToEndCpuMsPerFrame: {
        worker: round(median(e2eCpu.map((c) => c[0])) * 1000),
        ffmpeg: round(median(e2eCpu.map((c) => c[1])) * 1000),
      },
      ratioToBound: round(e2e / bound, 3),
    };
    console.error(JSON.stringify(out[label]));
  }
  return { video30: out.video30, video5: out.video5 };
}

export const workerSuite: Suite = {
  describe:
    'yolov8n-arch (8.7 GFLOPs) at 640 on 1080p and 640×480 JPEGs and on 1080p30 H.264 clips (every frame, and maxVideoFPS 5). Bound B = cores ÷ (1-thread model seconds + decode CPU seconds) per image or processed frame. `ratioToBound` = end-to-end ÷ B; `images.ratioToNaive` = end-to-end ÷ naive single-process loop. See bench/README.md.',
  async run() {
    const cores = os.availableParallelism();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vb-bench-worker-'));
    try {
      const model = buildYolov8nArch(0);
      const store = await createObjectStore({ driver: 'fs', dir: path.join(dir, 'store') });
      await store.put(
        objectKeys.batchFile(WS, WARMUP.batchId, '', WARMUP.file),
        await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } })
          .png()
          .toBuffer(),
      );
      const weightsKey = objectKeys.modelWeights(WS, 'bench/yolov8n');
      await store.put(weightsKey, Buffer.from(model));
      const record: ModelRecord = {
        modelId: 'bench/yolov8n',
        task: 'object-detection',
        architecture: 'yolov8',
        classNames: [...COCO_CLASS_NAMES],
        input: { width: 640, height: 640 },
        resizeMode: 'letterbox',
        paddingValue: 114,
        postProcessing: 'nms',
        defaults: { confidence: 0.4, iouThreshold: 0.3, maxDetections: 300, classAgnosticNms: false },
        weightsKey,
        weightsSha256: createHash('sha256').update(model).digest('hex'),
        weightsBytes: model.length,
        createdAt: new Date().toISOString(),
      };

      console.error('model-only ...');
      const model1Runs: number[] = [];
      for (let i = 0; i < RUNS; i++) model1Runs.push(await oneSession(model, 1, 3));
      const model1 = median(model1Runs);
      const modelAllThreads: number[] = [];
      const modelWorkers: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        modelAllThreads.push(await oneSession(model, cores, 3));
        modelWorkers.push(await parallelSessions(model, cores, 3));
      }
      const modelBest = Math.max(median(modelAllThreads), median(modelWorkers));
      const modelCoreSec = 1 / model1;

      const result: Record<string, unknown> = {
        cores,
        modelOnly: {
          imgPerSec1Thread: round(model1),
          imgPerSecOneSessionAllThreads: round(median(modelAllThreads)),
          imgPerSecWorkerThreads1ThreadEach: round(median(modelWorkers)),
          best: round(modelBest),
        },
      };

      for (const [label, width, height] of [
        ['images', 1920, 1080],
        ['images640', 640, 480],
      ] as const) {
        if (!PARTS.has(label)) continue;
        console.error(`${label}: corpus ...`);
        const corpus = await generateJpegCorpus({
          dir: path.join(dir, label),
          count: IMAGES,
          seed: 7,
          width,
          height,
          quality: 90,
        });
        const batchId = `in-${label}`;
        for (const f of corpus.files)
          await store.put(
            objectKeys.batchFile(WS, batchId, '', f),
            fs.readFileSync(path.join(corpus.dir, f)),
          );

        // decode-only: sharp decode to RGB + exact letterbox + CHW, one image at a time (one core),
        // split into its decode and resize parts, and next to each image the libvips path it replaced
        console.error(`${label}: decode-only ...`);
        const decodeRuns: number[] = [];
        const fullDecodeRuns: number[] = [];
        const resizeRuns: number[] = [];
        const libvipsRuns: number[] = [];
        const scratch = new Float32Array(3 * 640 * 640);
        for (let r = 0; r < RUNS; r++) {
          let total = 0;
          let fullDecode = 0;
          let resize = 0;
          let libvips = 0;
          for (const f of corpus.files) {
            const bytes = await store.getBuffer(objectKeys.batchFile(WS, batchId, '', f));
            const t0 = performance.now();
            const img = await decodeImage(bytes);
            await img.rgb();
            const t1 = performance.now();
            await preprocess(img, { width: 640, height: 640, mode: 'letterbox', paddingValue: 114 });
            const t2 = performance.now();
            await libvipsLetterbox(bytes, scratch);
            libvips += performance.now() - t2;
            total += t2 - t0;
            fullDecode += t1 - t0;
            resize += t2 - t1;
          }
          const n = corpus.files.length * 1000;
          decodeRuns.push(total / n);
          fullDecodeRuns.push(fullDecode / n);
          resizeRuns.push(resize / n);
          libvipsRuns.push(libvips / n);
        }
        const decodeCoreSec = median(decodeRuns);
        const bound = cores / (modelCoreSec + decodeCoreSec);

        // End to end (the worker's slot pool over staged objects, results written to the store) and
        // the naive loop (one process, one image at a time, onnxruntime's default threading), in
        // alternate rounds: this machine's slow spells last tens of seconds, so each round's ratio
        // compares two runs taken side by side, and the reported ratio is the median of the rounds'.
        console.error(`${label}: end-to-end and naive loop, ${RUNS} alternate rounds ...`);
        const context = jobContext(record, 'simple-image-processing-v1', null);
        const { pool } = await SlotPool.start(
          cores,
          {
            context,
            store: { driver: 'fs', dir: path.join(dir, 'store') },
            intraOpNumThreads: 1,
            cacheDir: path.join(dir, 'cache'),
          },
          createLogger('bench', 'warn'),
        );
        await loadModelsInEverySlot(pool);
        const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all' });
        const e2eRuns: number[] = [];
        const e2eBusy: number[] = [];
        const naiveRuns: number[] = [];
        const per = Math.ceil(corpus.files.length / (cores * 2));
        for (let r = 0; r < RUNS; r++) {
          const tasks: ImageTask[] = [];
          for (let i = 0; i < corpus.files.length; i += per) {
            const taskId = `r${r}t${i}`;
            tasks.push({
              kind: 'images',
              stage: 'processing',
              taskId,
              input: { batchId, part: '', files: corpus.files.slice(i, i + per) },
              output: { batchId: `out-${label}`, part: 'results', fileName: `${taskId}.jsonl` },
            });
          }
          const c0 = cpuSeconds();
          const t0 = performance.now();
          await runOnPool(pool, tasks);
          const wall = (performance.now() - t0) / 1000;
          e2eRuns.push(corpus.files.length / wall);
          e2eBusy.push(busyCores(c0, cpuSeconds(), wall));

          const t1 = performance.now();
          for (const f of corpus.files) {
            const img = await decodeImage(await store.getBuffer(objectKeys.batchFile(WS, batchId, '', f)));
            const prep = await preprocess(img, {
              width: 640,
              height: 640,
              mode: 'letterbox',
              paddingValue: 114,
            });
            const out = await session.run({
              images: new ort.Tensor('float32', prep.tensor, [1, 3, 640, 640]),
            });
            const t = out[session.outputNames[0]];
            const boxes = mapBoxesToSource(
              decodeYoloV8({ data: t.data as Float32Array, dims: t.dims as number[] }, 0, {
                confidence: 0.4,
                iouThreshold: 0.3,
                maxDetections: 300,
                classAgnosticNms: false,
              }),
              prep.geometry,
            );
            await store.put(
              objectKeys.batchFile(WS, `naive-${label}`, 'results', `${f}.json`),
              JSON.stringify(boxes),
            );
          }
          naiveRuns.push(corpus.files.length / ((performance.now() - t1) / 1000));
        }
        await pool.close();
        const e2e = median(e2eRuns);
        await session.release();
        const naive = median(naiveRuns);
        result[label] = {
          width,
          height,
          files: corpus.files.length,
          decodeMsPerImage: round(decodeCoreSec * 1000),
          decodeBreakdownMs: {
            decodeToRgb: round(median(fullDecodeRuns) * 1000),
            resizeAndTensor: round(median(resizeRuns) * 1000),
            libvipsShrinkOnLoadBefore: round(median(libvipsRuns) * 1000),
          },
          modelMsPerImage1Thread: round(modelCoreSec * 1000),
          boundImgPerSec: round(bound),
          endToEndImgPerSec: round(e2e),
          endToEndRuns: e2eRuns.map((x) => round(x)),
          endToEndCoresBusy: round(median(e2eBusy)),
          naiveImgPerSec: round(naive),
          naiveRuns: naiveRuns.map((x) => round(x)),
          ratioToBound: round(e2e / bound, 3),
          ratioToNaive: round(median(e2eRuns.map((x, i) => x / naiveRuns[i])), 3),
        };
        console.error(JSON.stringify(result[label]));
      }
      if (PARTS.has('video')) {
        const video = await videoPart({ dir, store, record, cores, modelCoreSec });
        result.video30 = video.video30;
        result.video5 = video.video5;
      }
      return result;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
