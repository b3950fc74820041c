/**
 * End-to-end demo (`npm run demo`): starts the local stack in a fresh data dir, registers the
 * synthetic `shapes-det` model and a one-step detection workflow, stages a generated dataset,
 * runs a batch job through the CLI with a progress bar, exports the results and checks them
 * against the dataset's ground truth. Always stops the stack. Exits 0 only when every square is
 * found (precision = recall = 1) with every box within 2 px.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  ApiClient,
  generateJobId,
  getCount,
  getStages,
  putWorkflow,
  runCli,
  stackDown,
  stackUp,
  uploadModel,
} from '@visionbatch/cli';
import { detectionWorkflow, generateImageDataset, writeModels } from '@visionbatch/models';

/**
 * More than 32 images make the CLI upload tar shards (bulk upload + background indexing); 32 or
 * fewer use single-image uploads. Flip to `false` if the bulk path is unavailable.
 */
const USE_TAR_SHARDS = true;
const IMAGE_COUNT = Number(process.env.VB_DEMO_IMAGES) || (USE_TAR_SHARDS ? 40 : 24);
const SEED = 7;
const MODEL_ID = 'shapes-det/1';
const WORKFLOW_ID = 'shapes-demo';
const BATCH_ID = 'demo-shapes';
const MIN_IOU = 0.5;
const MAX_BOX_ERROR_PX = 2;

const WORKFLOW = detectionWorkflow(MODEL_ID);

interface Box {
  class: string;
  x: number;
  y: number;
  width: number;
  height: number;
}
interface Prediction extends Box {
  confidence: number;
  class_id: number;
}

const repo = process.cwd();
const dataDir = path.resolve(repo, '.data/demo');
const assetsDir = path.join(dataDir, 'assets');
const imagesDir = path.join(assetsDir, 'images');
const outputDir = path.resolve(repo, 'demo-output');
const env = { ...process.env, VB_DATA_DIR: dataDir };
const t0 = Date.now();
const step = (msg: string) => console.log(`\n[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

/** Runs a CLI command in-process (same code as `npx visionbatch ...`); throws on a non-zero exit. */
async function cli(args: string[], client: ApiClient): Promise<void> {
  const code = await runCli(['--api-url', client.baseUrl, '--api-key', client.apiKey, ...args]);
  if (code !== 0) throw new Error(`visionbatch ${args.slice(0, 2).join(' ')} exited with ${code}`);
}

const corners = (b: Box) => [b.x - b.width / 2, b.y - b.height / 2, b.x + b.width / 2, b.y + b.height / 2];

function iou(a: Box, b: Box): number {
  const [ax1, ay1, ax2, ay2] = corners(a);
  const [bx1, by1, bx2, by2] = corners(b);
  const iw = Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1));
  const ih = Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
  const inter = iw * ih;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Largest corner displacement between two boxes, in pixels. */
function boxError(a: Box, b: Box): number {
  const ca = corners(a);
  const cb = corners(b);
  return Math.max(...ca.map((v, i) => Math.abs(v - cb[i])));
}

/** Greedy matching by class, highest IoU first, IoU ≥ 0.5. */
function match(
  truth: readonly Box[],
  preds: readonly Box[],
): { tp: number; fp: number; fn: number; errors: number[] } {
  const pairs: { g: number; p: number; iou: number }[] = [];
  for (const [gi, g] of truth.entries()) {
    for (const [pi, p] of preds.entries()) {
      if (g.class !== p.class) continue;
      const v = iou(g, p);
      if (v >= MIN_IOU) pairs.push({ g: gi, p: pi, iou: v });
    }
  }
  pairs.sort((a, b) => b.iou - a.iou);
  const usedG = new Set<number>();
  const usedP = new Set<number>();
  const errors: number[] = [];
  for (const { g, p } of pairs) {
    if (usedG.has(g) || usedP.has(p)) continue;
    usedG.add(g);
    usedP.add(p);
    errors.push(boxError(truth[g], preds[p]));
  }
  return { tp: errors.length, fp: preds.length - errors.length, fn: truth.length - errors.length, errors };
}

async function findFiles(dir: string, ext: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    // `.export_log.jsonl` is the CLI's resume log, not results.
    if (e.isFile() && e.name.endsWith(ext) && !e.name.startsWith('.'))
      out.push(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
  }
  return out.sort();
}

/** Result rows of the export: `image` (staged file name) → predictions. */
async function readResults(dir: string): Promise<Map<string, Prediction[]>> {
  const rows = new Map<string, Prediction[]>();
  const files = await findFiles(dir, '.jsonl');
  if (!files.length) throw new Error(`no .jsonl results under ${dir}`);
  for (const f of files) {
    for (const line of (await readFile(f, 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      const row = JSON.parse(line) as { image?: string; predictions?: unknown };
      const p = typeof row.predictions === 'string' ? JSON.parse(row.predictions) : row.predictions;
      if (typeof row.image !== 'string') throw new Error(`result row without "image" in ${f}`);
      rows.set(row.image, ((p as { predictions?: Prediction[] })?.predictions ?? []) as Prediction[]);
    }
  }
  return rows;
}

async function waitForCount(
  client: ApiClient,
  batchId: string,
  expected: number,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let count = 0;
  while (Date.now() < deadline) {
    count = await getCount(client, batchId);
    if (count >= expected) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`batch ${batchId} lists ${count} of ${expected} images after ${timeoutMs} ms`);
}

async function main(): Promise<number> {
  // A stack left over by an interrupted demo would hold the ports: stop it before wiping its dir.
  await stackDown({ env, log: () => {} });
  await rm(dataDir, { recursive: true, force: true });
  await rm(outputDir, { recursive: true, force: true });

  step(`Generating the shapes-det model and ${IMAGE_COUNT} images (seed ${SEED})`);
  const [model] = await writeModels(path.join(assetsDir, 'models'), { names: ['shapes-det'] });
  const dataset = await generateImageDataset({ dir: imagesDir, count: IMAGE_COUNT, seed: SEED });

  step('Starting the local stack (visionbatch up)');
  const stack = await stackUp({ env });
  const client = new ApiClient({ baseUrl: stack.apiUrl, apiKey: stack.apiKey });

  step(`Registering model ${MODEL_ID} and workflow ${WORKFLOW_ID}`);
  await uploadModel(client, { modelId: MODEL_ID, weights: model.onnxPath, config: model.configPath });
  await putWorkflow(client, WORKFLOW_ID, WORKFLOW);

  step(
    `Staging ${IMAGE_COUNT} images into batch ${BATCH_ID} (${IMAGE_COUNT > 32 ? 'tar shards' : 'single uploads'})`,
  );
  await cli(
    [
      'data-staging',
      'create-batch-of-images',
      '--batch-id',
      BATCH_ID,
      '--images-dir',
      imagesDir,
      '--batch-name',
      'visionbatch demo',
    ],
    client,
  );
  await waitForCount(client, BATCH_ID, IMAGE_COUNT);

  const jobId = generateJobId();
  step(`Running workflow ${WORKFLOW_ID} as job ${jobId}`);
  const jobCode = await runCli([
    '--api-url',
    client.baseUrl,
    '--api-key',
    client.apiKey,
    'batch-processing',
    'process-images-with-workflow',
    '--batch-id',
    BATCH_ID,
    '--workflow-id',
    WORKFLOW_ID,
    '--job-id',
    jobId,
    '--aggregation-format',
    'jsonl',
    '--wait',
    '--wait-timeout',
    '150',
  ]);
  if (jobCode !== 0) {
    await runCli([
      '--api-url',
      client.baseUrl,
      '--api-key',
      client.apiKey,
      'batch-processing',
      'show-job-details',
      '--job-id',
      jobId,
    ]);
    throw new Error(`job ${jobId} did not succeed`);
  }

  const stages = await getStages(client, jobId);
  const exportStage =
    stages.find((s) => s.processingStageName === 'export') ??
    [...stages].sort((a, b) => Date.parse(a.startTimestamp) - Date.parse(b.startTimestamp)).at(-1);
  const outputBatch = exportStage?.outputBatches[0];
  if (!outputBatch) throw new Error(`job ${jobId} has no output batch to export`);
  step(
    `Exporting batch ${outputBatch} (stage ${exportStage?.processingStageName}) into ${path.relative(repo, outputDir)}/`,
  );
  await cli(['data-staging', 'export-batch', '--batch-id', outputBatch, '--target-dir', outputDir], client);

  step('Comparing with the ground truth');
  const results = await readResults(outputDir);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  const errors: number[] = [];
  const perClass = new Map<string, number>();
  const missing: string[] = [];
  for (const [file, truth] of Object.entries(dataset.groundTruth)) {
    const preds = results.get(file);
    if (!preds) missing.push(file);
    for (const p of preds ?? []) perClass.set(p.class, (perClass.get(p.class) ?? 0) + 1);
    const m = match(truth, preds ?? []);
    tp += m.tp;
    fp += m.fp;
    fn += m.fn;
    errors.push(...m.errors);
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const meanErr = errors.length ? errors.reduce((a, b) => a + b, 0) / errors.length : Number.NaN;
  const maxErr = errors.length ? Math.max(...errors) : Number.NaN;
  const ok = precision === 1 && recall === 1 && maxErr <= MAX_BOX_ERROR_PX;

  console.log('\n==================== visionbatch demo ====================');
  console.log(
    `Images staged:         ${IMAGE_COUNT} (${IMAGE_COUNT > 32 ? 'tar shards' : 'single uploads'})`,
  );
  console.log(
    `Result rows:           ${results.size}${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`,
  );
  console.log(`Ground-truth squares:  ${tp + fn}`);
  console.log(
    `Detections per class:  ${
      [...perClass.entries()]
        .sort()
        .map(([c, n]) => `${c}=${n}`)
        .join(', ') || 'none'
    }`,
  );
  console.log(`Matched (IoU >= ${MIN_IOU}):   ${tp}   false positives: ${fp}   missed: ${fn}`);
  console.log(`Precision / recall:    ${precision.toFixed(4)} / ${recall.toFixed(4)}`);
  console.log(
    `Box error (px):        mean ${meanErr.toFixed(3)}, max ${maxErr.toFixed(3)} (limit ${MAX_BOX_ERROR_PX})`,
  );
  console.log(`Job / export batch:    ${jobId} / ${outputBatch}`);
  console.log(`Wall time:             ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`Result:                ${ok ? 'PASS' : 'FAIL'}`);
  console.log('==========================================================');
  return ok ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  console.error(`\nDemo failed: ${e instanceof Error ? e.message : String(e)}`);
  console.error(`Service logs: ${path.join(dataDir, 'logs')}`);
} finally {
  step('Stopping the local stack (visionbatch down)');
  try {
    await stackDown({ env });
  } catch (e) {
    console.error(`visionbatch down failed: ${(e as Error).message}`);
    code = 1;
  }
}
process.exit(code);
