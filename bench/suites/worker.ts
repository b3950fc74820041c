import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { buildYolov8nArch, COCO_CLASS_NAMES, generateJpegCorpus } from '@visionbatch/models';
import { createLogger } from '@visionbatch/shared/logger';
import { objectKeys } from '@visionbatch/shared/object-keys';
import { createObjectStore } from '@visionbatch/shared/object-store/index';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';
import type { ImageTask, JobContext } from '@visionbatch/shared/tasks';
import ort from 'onnxruntime-node';
import { decodeImage } from '../../services/worker/src/engine/image-decode.ts';
import { preprocess } from '../../services/worker/src/engine/preprocess.ts';
import { decodeYoloV8, mapBoxesToSource } from '../../services/worker/src/engine/yolo-decode.ts';
import { SlotPool } from '../../services/worker/src/slot-pool.ts';
import type { Suite } from './index.ts';

const WS = 'bench';
const RUNS = Number(process.env.VB_BENCH_RUNS ?? 3);
const IMAGES = Number(process.env.VB_BENCH_IMAGES ?? 48);

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

/**
 * The worker's image pipeline against its compute bound on this machine, all measured in one
 * run: model-only throughput (best thread layout), decode-only cost, the bound
 * B = cores / (core-seconds per image of model + decode), the worker's end-to-end throughput
 * (staged objects → written results, slots in worker threads) and a naive single-process loop.
 */
export const workerSuite: Suite = {
  describe:
    'yolov8n-arch (8.7 GFLOPs) at 640 on 1080p and 640×480 JPEGs. `images.ratioToBound` = end-to-end ÷ compute bound; `images.ratioToNaive` = end-to-end ÷ naive loop. Video suites not implemented yet (no FrameSource).',
  async run() {
    const cores = os.availableParallelism();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vb-bench-worker-'));
    try {
      const model = buildYolov8nArch(0);
      const store = await createObjectStore({ driver: 'fs', dir: path.join(dir, 'store') });
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

        // decode-only: sharp decode + letterbox + CHW, one image at a time (one core)
        console.error(`${label}: decode-only ...`);
        const decodeRuns: number[] = [];
        for (let r = 0; r < RUNS; r++) {
          const t0 = performance.now();
          for (const f of corpus.files) {
            const img = await decodeImage(await store.getBuffer(objectKeys.batchFile(WS, batchId, '', f)));
            await preprocess(img, { width: 640, height: 640, mode: 'letterbox', paddingValue: 114 });
          }
          decodeRuns.push((performance.now() - t0) / 1000 / corpus.files.length);
        }
        const decodeCoreSec = median(decodeRuns);
        const bound = cores / (modelCoreSec + decodeCoreSec);

        // end to end: the worker's slot pool over staged objects, results written to the store
        console.error(`${label}: end-to-end ...`);
        const context: JobContext = {
          workspace: WS,
          jobId: 'bench',
          jobType: 'simple-image-processing-v1',
          workflow: {
            version: '1.0',
            inputs: [{ type: 'WorkflowImage', name: 'image' }],
            steps: [
              {
                type: 'roboflow_core/roboflow_object_detection_model@v2',
                name: 'det',
                images: '$inputs.image',
                model_id: 'bench/yolov8n',
              },
            ],
            outputs: [{ type: 'JsonField', name: 'predictions', selector: '$steps.det.predictions' }],
          },
          models: { 'bench/yolov8n': record },
          workflowParameters: {},
          imageInputName: null,
          aggregationFormat: 'jsonl',
          persistImagesOutputs: false,
          imagesOutputsToBePersisted: null,
          maxVideoFPS: null,
          maxImageFailureRate: null,
          machineType: 'cpu',
        };
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
        const e2eRuns: number[] = [];
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
          const t0 = performance.now();
          let next = 0;
          await Promise.all(
            Array.from({ length: cores }, async () => {
              while (next < tasks.length) {
                const t = tasks[next++];
                const o = await pool.run(t, () => {});
                if (o.failures.length) throw new Error(`bench task failed: ${JSON.stringify(o.failures[0])}`);
              }
            }),
          );
          e2eRuns.push(corpus.files.length / ((performance.now() - t0) / 1000));
        }
        await pool.close();
        const e2e = median(e2eRuns);

        // naive: one process, one image at a time, onnxruntime's default threading
        console.error(`${label}: naive loop ...`);
        const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all' });
        const naiveRuns: number[] = [];
        for (let r = 0; r < RUNS; r++) {
          const t0 = performance.now();
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
          naiveRuns.push(corpus.files.length / ((performance.now() - t0) / 1000));
        }
        await session.release();
        const naive = median(naiveRuns);
        result[label] = {
          width,
          height,
          files: corpus.files.length,
          decodeMsPerImage: round(decodeCoreSec * 1000),
          modelMsPerImage1Thread: round(modelCoreSec * 1000),
          boundImgPerSec: round(bound),
          endToEndImgPerSec: round(e2e),
          endToEndRuns: e2eRuns.map((x) => round(x)),
          naiveImgPerSec: round(naive),
          ratioToBound: round(e2e / bound, 3),
          ratioToNaive: round(e2e / naive, 3),
        };
        console.error(JSON.stringify(result[label]));
      }
      result.video30 = {
        ratioToBound: null,
        note: 'video decoding (FrameSource over ffmpeg) is not implemented yet',
      };
      result.video5 = {
        ratioToBound: null,
        note: 'video decoding (FrameSource over ffmpeg) is not implemented yet',
      };
      return result;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
