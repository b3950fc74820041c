/** Shared set-up for the e2e tests: a stack of real processes, the shapes-det model, a workflow, staged images. */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApiClient, createBatchOfImages, exportBatch, putWorkflow, uploadModel } from '@visionbatch/cli';
import {
  detectionWorkflow,
  generateImageDataset,
  type ImageDatasetResult,
  writeModels,
} from '@visionbatch/models';
import { contractFetch } from '../contract/openapi-contract.ts';
import { waitFor } from '../support/helpers.ts';
import { Stack } from './stack.ts';

export const WORKFLOW_ID = 'shapes-e2e';
export const MODEL_ID = 'shapes-det/1';

export const WORKFLOW = detectionWorkflow(MODEL_ID);

/** Short locks and leases so that crashes are noticed within seconds. */
export const FAST_ENV: Record<string, string> = {
  VB_TASK_LOCK_MS: '3000',
  VB_LEASE_TTL_MS: '4000',
  VB_IMAGES_PER_TASK: '8',
  VB_TASK_ATTEMPTS: '5',
  VB_LOG_LEVEL: 'info',
};

/** The CLI's client on the stack; its answers are held against /openapi.json like `stack.call`'s. */
export const client = (stack: Stack) =>
  new ApiClient({ baseUrl: stack.apiUrl, apiKey: stack.apiKey, fetch: contractFetch(stack.apiUrl) });
export const bp = (stack: Stack) => `/batch-processing/v1/external/${stack.workspace}`;
export const ds = (stack: Stack) => `/data-staging/v1/external/${stack.workspace}`;

/** Registers the shapes-det model and the detection workflow. */
export async function registerModelAndWorkflow(stack: Stack, dir: string): Promise<void> {
  const [model] = await writeModels(path.join(dir, 'models'), { names: ['shapes-det'] });
  const c = client(stack);
  await uploadModel(c, { modelId: MODEL_ID, weights: model.onnxPath, config: model.configPath });
  await putWorkflow(c, WORKFLOW_ID, WORKFLOW);
}

/** Generates `count` images and stages them (≤ 32: single uploads, more: tar shards); waits until counted. */
export async function stageImages(
  stack: Stack,
  dir: string,
  batchId: string,
  count: number,
  seed = 3,
): Promise<ImageDatasetResult> {
  const imagesDir = path.join(dir, `images-${batchId}`);
  const dataset = await generateImageDataset({ dir: imagesDir, count, seed });
  // ground-truth.json must not be uploaded as an image: move it aside.
  const gt = await readFile(dataset.groundTruthPath);
  await writeFile(path.join(dir, `gt-${batchId}.json`), gt);
  await (await import('node:fs/promises')).rm(dataset.groundTruthPath);
  await createBatchOfImages(client(stack), { batchId, imagesDir, progress: { silent: true }, log: () => {} });
  await waitFor(
    async () => {
      const r = await stack.call('GET', `${ds(stack)}/batches/${batchId}/count`);
      return r.status === 200 && r.json.count >= count;
    },
    { timeoutMs: 60_000, intervalMs: 250, message: `batch ${batchId} has ${count} images` },
  );
  return dataset;
}

export function imageJobBody(
  stack: Stack,
  batchId: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type: 'simple-image-processing-v1',
    jobInput: { type: 'staging-batch-input-v1', batchId },
    computeConfiguration: { type: 'compute-configuration-v2', machineType: 'cpu', workersPerMachine: 1 },
    ...extra,
    processingSpecification: {
      type: 'workflows-processing-specification-v1',
      workspace: stack.workspace,
      workflowId: WORKFLOW_ID,
      persistImagesOutputs: false,
      aggregationFormat: 'jsonl',
    },
  };
}

export async function createJob(stack: Stack, jobId: string, body: Record<string, unknown>): Promise<void> {
  const r = await stack.call('POST', `${bp(stack)}/jobs/${jobId}`, body);
  if (r.status >= 400) throw new Error(`create job ${jobId}: ${r.status} ${JSON.stringify(r.json)}`);
}

export async function getJob(stack: Stack, jobId: string): Promise<any> {
  const r = await stack.call('GET', `${bp(stack)}/jobs/${jobId}`);
  if (r.status !== 200) throw new Error(`get job ${jobId}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.job;
}

export async function waitTerminal(stack: Stack, jobId: string, timeoutMs = 90_000): Promise<any> {
  let job: any;
  await waitFor(
    async () => {
      // Tolerates a moment of unavailability (a restarting Redis or scheduler).
      const j = await getJob(stack, jobId).catch(() => null);
      if (j) job = j;
      return j?.isTerminal === true;
    },
    { timeoutMs, intervalMs: 250, message: `job ${jobId} terminal` },
  );
  return job;
}

export async function stages(stack: Stack, jobId: string): Promise<any[]> {
  const r = await stack.call('GET', `${bp(stack)}/jobs/${jobId}/stages`);
  if (r.status !== 200) throw new Error(`stages ${jobId}: ${r.status}`);
  return r.json.stages;
}

export async function tasks(
  stack: Stack,
  jobId: string,
  stageId: string,
): Promise<{ tasks: any[]; raw: any }> {
  const all: any[] = [];
  let token: string | null = null;
  let raw: any;
  do {
    const r = await stack.call(
      'GET',
      `${bp(stack)}/jobs/${jobId}/stages/${stageId}/tasks${token ? `?nextPageToken=${token}` : ''}`,
    );
    if (r.status !== 200) throw new Error(`tasks ${jobId}/${stageId}: ${r.status}`);
    raw = r.json;
    all.push(...r.json.tasks);
    token = r.json.nextPageToken;
  } while (token);
  return { tasks: all, raw };
}

export async function logs(stack: Stack, jobId: string): Promise<{ logs: any[]; raw: any }> {
  const all: any[] = [];
  let token: string | null = null;
  let raw: any;
  do {
    const r = await stack.call(
      'GET',
      `${bp(stack)}/jobs/${jobId}/logs${token ? `?nextPageToken=${token}` : ''}`,
    );
    if (r.status !== 200) throw new Error(`logs ${jobId}: ${r.status}`);
    raw = r.json;
    all.push(...r.json.logs);
    token = r.json.nextPageToken;
  } while (token);
  return { logs: all, raw };
}

export interface ResultRow {
  image: string;
  predictions: any[];
  file: string;
}

/** Exports the job's export-stage batch (tar.gz archives, unpacked by the CLI) and reads every result row. */
export async function exportResults(stack: Stack, jobId: string, targetDir: string): Promise<ResultRow[]> {
  const st = await stages(stack, jobId);
  const exp = st.find((s) => s.processingStageName === 'export');
  if (!exp) throw new Error(`job ${jobId} has no export stage`);
  await exportBatch(client(stack), {
    batchId: exp.outputBatches[0],
    targetDir,
    progress: { silent: true },
    log: () => {},
  });
  const rows: ResultRow[] = [];
  for (const e of await readdir(targetDir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.jsonl') || e.name.startsWith('.')) continue;
    const f = path.join(e.parentPath, e.name);
    for (const line of (await readFile(f, 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      const row = JSON.parse(line);
      const p = typeof row.predictions === 'string' ? JSON.parse(row.predictions) : row.predictions;
      rows.push({ image: row.image, predictions: p?.predictions ?? [], file: e.name });
    }
  }
  return rows;
}

interface Box {
  class: string;
  x: number;
  y: number;
  width: number;
  height: number;
}
const corners = (b: Box) => [b.x - b.width / 2, b.y - b.height / 2, b.x + b.width / 2, b.y + b.height / 2];
function iou(a: Box, b: Box): number {
  const [ax1, ay1, ax2, ay2] = corners(a);
  const [bx1, by1, bx2, by2] = corners(b);
  const inter =
    Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1)) *
    Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy per-class matching at IoU ≥ 0.5: precision, recall and the worst corner error in px. */
export function score(
  truth: Record<string, Box[]>,
  rows: ResultRow[],
): { precision: number; recall: number; maxErr: number; missing: string[] } {
  const byImage = new Map(rows.map((r) => [r.image, r.predictions as Box[]]));
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let maxErr = 0;
  const missing: string[] = [];
  for (const [file, gts] of Object.entries(truth)) {
    const preds = byImage.get(file);
    if (!preds) missing.push(file);
    const pairs: { g: number; p: number; v: number }[] = [];
    for (const [gi, g] of gts.entries())
      for (const [pi, p] of (preds ?? []).entries())
        if (g.class === p.class && iou(g, p) >= 0.5) pairs.push({ g: gi, p: pi, v: iou(g, p) });
    pairs.sort((a, b) => b.v - a.v);
    const ug = new Set<number>();
    const up = new Set<number>();
    for (const { g, p } of pairs) {
      if (ug.has(g) || up.has(p)) continue;
      ug.add(g);
      up.add(p);
      const cg = corners(gts[g]);
      const cp = corners((preds as Box[])[p]);
      maxErr = Math.max(maxErr, ...cg.map((v, i) => Math.abs(v - cp[i])));
    }
    tp += ug.size;
    fp += (preds?.length ?? 0) - up.size;
    fn += gts.length - ug.size;
  }
  return { precision: tp / Math.max(1, tp + fp), recall: tp / Math.max(1, tp + fn), maxErr, missing };
}

/** Starts api + scheduler + `workers` worker processes. */
export async function startStack(
  redisUrl: string,
  dataDir: string,
  extraEnv: Record<string, string> = {},
  workers = 1,
): Promise<Stack> {
  const stack = await Stack.create({ redisUrl, dataDir, extraEnv: { ...FAST_ENV, ...extraEnv } });
  await stack.start('api');
  await stack.start('scheduler');
  for (let i = 1; i <= workers; i++) await stack.start('worker', `worker-${i}`);
  return stack;
}

export const SLOW_MODEL_ID = 'slow-det/1';
export const SLOW_WORKFLOW_ID = 'slow-e2e';

/** Registers the YOLOv8n-sized network (≈ 50–100 ms per image) as `slow-det/1` and a workflow using it. */
export async function registerSlowModel(stack: Stack, dir: string): Promise<void> {
  const [model] = await writeModels(path.join(dir, 'slow-models'), { names: ['yolov8n-arch'] });
  const c = client(stack);
  await uploadModel(c, { modelId: SLOW_MODEL_ID, weights: model.onnxPath, config: model.configPath });
  await putWorkflow(c, SLOW_WORKFLOW_ID, detectionWorkflow(SLOW_MODEL_ID));
}

export function slowJobBody(
  stack: Stack,
  batchId: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const b = imageJobBody(stack, batchId, extra);
  return {
    ...b,
    processingSpecification: { ...(b.processingSpecification as object), workflowId: SLOW_WORKFLOW_ID },
  };
}

/** Every staged image appears exactly once among the exported result rows. */
export function expectEachOnce(
  rows: ResultRow[],
  files: string[],
): { dupes: string[]; missing: string[]; extra: string[] } {
  const seen = new Map<string, number>();
  for (const r of rows) seen.set(r.image, (seen.get(r.image) ?? 0) + 1);
  return {
    dupes: [...seen].filter(([, n]) => n > 1).map(([f]) => f),
    missing: files.filter((f) => !seen.has(f)),
    extra: [...seen.keys()].filter((f) => !files.includes(f)),
  };
}

/** Task statuses of the processing stage by id ({} before planning). */
export async function processingTasks(stack: Stack, jobId: string): Promise<Map<string, any>> {
  const st = await stages(stack, jobId);
  if (!st.some((s) => s.processingStageId === 'processing')) return new Map();
  const { tasks: ts } = await tasks(stack, jobId, 'processing');
  return new Map(ts.map((t) => [t.taskId, t]));
}
