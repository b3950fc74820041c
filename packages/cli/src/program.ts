import { readFile } from 'node:fs/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { ApiClient } from './api-client.ts';
import { listBatchContent, listBatches, listIngestDetails, showBatchDetails } from './batch-listing.ts';
import { CliError } from './cli-error.ts';
import { batchHoldsVideos, estimateJob, renderEstimate } from './estimate.ts';
import { exportBatch } from './export-batch.ts';
import { clientFor, type GlobalOptions } from './global-options.ts';
import {
  buildImageJobBody,
  buildRestartBody,
  buildVideoJobBody,
  generateJobId,
  type ImageJobOptions,
  type VideoJobOptions,
} from './job-body.ts';
import type { JobEvent } from './job-events.ts';
import { waitForJob } from './job-wait.ts';
import { abortJob, fetchLogs, listJobs, restartJob, showJobDetails, triggerJob } from './jobs.ts';
import { recordSink } from './jsonl.ts';
import {
  deleteModel,
  deleteWorkflow,
  getModel,
  getWorkflow,
  listModels,
  listWorkflows,
  putWorkflowFile,
  uploadModel,
  workflowWarningLines,
} from './registries.ts';
import { stackDown, stackStatus, stackUp } from './stack.ts';
import { createBatchOfImages } from './upload-images.ts';
import { createBatchOfVideos } from './upload-videos.ts';
import { webhookSecret } from './webhooks.ts';

/**
 * Roboflow's CLI has multi-letter short options (`-bn`, `-pn`, …), which commander cannot declare;
 * they are rewritten to their long forms before parsing.
 */
export const MULTI_LETTER_ALIASES: Readonly<Record<string, string>> = {
  '-bn': '--batch-name',
  '-pn': '--part-name',
  '-ds': '--data-source',
  '-bp': '--bucket-path',
  '-imp': '--images-metadata-part-name',
  '-mt': '--machine-type',
  '-ms': '--machine-size',
  '-ib': '--inference-backend',
  '-jn': '--job-name',
  '-mm': '--metadata-mapping',
};

export function expandAliases(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return [...out, ...args.slice(i)];
    out.push(MULTI_LETTER_ALIASES[a] ?? a);
  }
  return out;
}

const int =
  (min = 0) =>
  (v: string): number => {
    if (!/^-?\d+$/.test(v) || Number(v) < min)
      throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return Number(v);
  };
const float = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
};
const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** The help of --max-runtime-seconds; the README quotes it. */
export const MAX_RUNTIME_HELP =
  'processingTimeoutSeconds: wall-clock seconds the processing stage may take from its start; past it the job fails (processing-timeout)';
const BUCKET_PATH_HELP =
  's3://bucket/prefix or gs://bucket/prefix, optionally ending in a glob (cloud-storage; alias -bp). Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE; AWS_REGION; AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for MinIO, R2, GCS';

// biome-ignore lint/suspicious/noExplicitAny: commander's parsed options are untyped; each action reads its own
type Opts = GlobalOptions & Record<string, any>;

/** What command actions report back to {@link runCli}. */
interface Ctx {
  exitCode: number;
}

function action(ctx: Ctx, fn: (o: Opts, client: ApiClient) => Promise<unknown>) {
  return async (_o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals() as Opts;
    const code = await fn(o, clientFor(o));
    if (typeof code === 'number') ctx.exitCode = code;
  };
}

const printJson = (v: unknown): void => {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
};

async function readWorkflowParams(file: string | undefined): Promise<Record<string, unknown> | undefined> {
  if (!file) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new CliError(`cannot read --workflow-params ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new CliError(`--workflow-params ${file} must hold a JSON object`);
  return v as Record<string, unknown>;
}

/** Options of a job's definition, shared by the two process-*-with-workflow commands and `estimate`. */
function jobDefinitionOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-b, --batch-id <id>', 'input batch')
    .requiredOption('-w, --workflow-id <id>', 'workflow to run (see `visionbatch workflows put`)')
    .option('--workflow-params <file>', 'JSON file with extra workflow parameters')
    .option('--image-input-name <name>', 'name of the workflow image input')
    .option('--save-image-outputs', 'persist image outputs', false)
    .option('--no-save-image-outputs', 'do not persist image outputs (default)')
    .option('--image-outputs-to-save <name>', 'image output to persist (repeatable)', collect)
    .option('-p, --part-name <part>', 'part of a multipart input batch')
    .addOption(new Option('--machine-type <type>', 'machine type (alias -mt)').choices(['cpu', 'gpu']))
    .option('--workers-per-machine <n>', 'task slots per machine', int(1))
    .addOption(
      new Option(
        '--machine-size <size>',
        'deprecated: xs=8, s=4, m=2, l=1, xl=1 workers (alias -ms)',
      ).choices(['xs', 's', 'm', 'l', 'xl']),
    )
    .option('--max-runtime-seconds <n>', MAX_RUNTIME_HELP, int(1))
    .option('--max-parallel-tasks <n>', 'cap on concurrently running tasks', int(1))
    .addOption(new Option('--aggregation-format <format>', 'results file format').choices(['csv', 'jsonl']))
    .option('--notifications-url <url>', 'job webhook URL')
    .addOption(
      new Option('--inference-backend <backend>', 'alias -ib').choices(['old-inference', 'inference-models']),
    );
}

/** Options of the image job's definition (process-images-with-workflow and `estimate`). */
function imageDefinitionOptions(cmd: Command): Command {
  return cmd
    .option('--images-metadata-part-name <part>', 'part with per-image metadata JSON (alias -imp)')
    .option('--max-image-failure-rate <rate>', 'fraction 0..1 of images per task allowed to fail', float)
    .option(
      '--metadata-mapping <input=key>',
      'workflow input from image metadata (repeatable; alias -mm)',
      collect,
    );
}

const MAX_VIDEO_FPS_HELP = 'process at most this many frames per second';

/** Options shared by the two process-*-with-workflow commands. */
function workflowJobOptions(cmd: Command): Command {
  return jobDefinitionOptions(cmd)
    .option('-j, --job-id <id>', 'job id (default: job- + 12 random characters)')
    .option('--job-name <name>', 'human-readable job name (alias -jn)')
    .option('--wait', 'follow the job with a progress bar until it finishes; exit 1 if it fails', false)
    .option('--wait-timeout <seconds>', 'with --wait: give up after this long (0 = never)', int(0), 0);
}

/** The body of an image job from the parsed options. */
async function imageJobBody(o: Opts, workspace: string): Promise<Record<string, unknown>> {
  const opts: ImageJobOptions = {
    ...commonJobOptions(o),
    workflowParameters: await readWorkflowParams(o.workflowParams),
    imagesMetadataPartName: o.imagesMetadataPartName,
    maxImageFailureRate: o.maxImageFailureRate,
    metadataMapping: o.metadataMapping,
  };
  return buildImageJobBody(opts, workspace);
}

/** The body of a video job from the parsed options. */
async function videoJobBody(o: Opts, workspace: string): Promise<Record<string, unknown>> {
  const opts: VideoJobOptions = {
    ...commonJobOptions(o),
    workflowParameters: await readWorkflowParams(o.workflowParams),
    maxVideoFps: o.maxVideoFps,
  };
  return buildVideoJobBody(opts, workspace);
}

function commonJobOptions(o: Opts) {
  return {
    batchId: o.batchId,
    workflowId: o.workflowId,
    imageInputName: o.imageInputName,
    saveImageOutputs: o.saveImageOutputs,
    imageOutputsToSave: o.imageOutputsToSave,
    partName: o.partName,
    machineType: o.machineType,
    workersPerMachine: o.workersPerMachine,
    machineSize: o.machineSize,
    maxRuntimeSeconds: o.maxRuntimeSeconds,
    maxParallelTasks: o.maxParallelTasks,
    aggregationFormat: o.aggregationFormat,
    notificationsUrl: o.notificationsUrl,
    inferenceBackend: o.inferenceBackend,
  };
}

/**
 * What `watch` prints of an event above the progress bar: state and stage moves, and log lines of
 * severity warning or error (task progress is the bar itself).
 */
function watchLine(e: JobEvent): void {
  const d = e.data;
  let line = '';
  if (e.event === 'state') line = `job ${String(d.state)}`;
  else if (e.event === 'stage') line = `stage ${String(d.stage)} ${String(d.state)}`;
  else if (e.event === 'log' && d.severity !== 'info')
    line = `${String(d.severity)}: ${String(d.logType)} ${JSON.stringify(d.payload)}`;
  else if (e.event === 'gap') line = String(d.message);
  // on a terminal, over the progress bar's line (the bar draws itself again below)
  if (line) process.stderr.write(`${process.stderr.isTTY ? '\r\u001b[2K' : ''}${line}\n`);
}

/** Posts a job and, with `--wait`, follows it; returns the exit code. */
async function submitJob(
  client: ApiClient,
  o: Opts,
  body: Record<string, unknown>,
  jobId: string,
): Promise<number> {
  await triggerJob(client, jobId, body, o.jobName);
  process.stdout.write(`Triggered job with ID: ${jobId}\n`);
  if (!o.wait) return 0;
  const job = await waitForJob(client, jobId, { timeoutMs: (o.waitTimeout ?? 0) * 1000 });
  return job.error ? 1 : 0;
}

/** The `visionbatch` command tree. */
export function buildProgram(ctx: Ctx = { exitCode: 0 }): Command {
  const program = new Command('visionbatch')
    .description('visionbatch: self-hosted, Roboflow-compatible batch processing for computer vision')
    .option(
      '--api-url <url>',
      'API base URL (default: VB_API_URL, else http://127.0.0.1:<VB_API_PORT or 8080>)',
    )
    .option('-a, --api-key <key>', 'API key (default: VB_API_KEY, else ROBOFLOW_API_KEY, else vb_dev_key)')
    .option('--debug-mode', 'show stack traces on failure', false)
    .option('--no-debug-mode', 'hide stack traces (default)')
    .showHelpAfterError()
    .exitOverride();

  // ---- local stack -------------------------------------------------------------------------------
  program
    .command('up')
    .description('start Redis, api, scheduler and worker locally (idempotent: only missing processes start)')
    .option('--timeout <seconds>', 'readiness deadline', int(1), 60)
    .option(
      '--autoscale <actuator>',
      'worker machines: "local" = the scheduler starts and stops them on demand (0..VB_POOL_CPU_MAX), "static" = one worker (same as VB_AUTOSCALER)',
    )
    .action(
      action(ctx, async (o) => {
        if (o.autoscale !== undefined && o.autoscale !== 'local' && o.autoscale !== 'static')
          throw new CliError(`--autoscale must be local or static, got "${o.autoscale}"`);
        const env = o.autoscale ? { ...process.env, VB_AUTOSCALER: o.autoscale } : process.env;
        await stackUp({ env, timeoutMs: o.timeout * 1000 });
      }),
    );
  program
    .command('down')
    .description('stop the processes `up` started from this data dir (Redis last)')
    .action(
      action(ctx, async () => {
        await stackDown();
      }),
    );
  program
    .command('status')
    .description('show which local processes are running; exit 3 when not all are ready')
    .action(action(ctx, async () => ((await stackStatus()) ? 0 : 3)));

  // ---- data staging ------------------------------------------------------------------------------
  const ds = program.command('data-staging').description('stage images and videos; list and export batches');
  ds.command('list-batches')
    .description('list batches of the workspace')
    .option('-p, --pages <n>', 'pages to fetch', int(1), 1)
    .option('--page-size <n>', 'batches per page', int(1))
    .action(
      action(ctx, async (o, c) => {
        await listBatches(c, { pages: o.pages, pageSize: o.pageSize });
      }),
    );
  ds.command('show-batch-details')
    .description('show a batch with its file counts (per part for multipart batches)')
    .requiredOption('-b, --batch-id <id>', 'batch id')
    .action(action(ctx, (o, c) => showBatchDetails(c, o.batchId)));
  ds.command('list-batch-content')
    .description('list the files of a batch (JSONL, snake_case keys)')
    .requiredOption('-b, --batch-id <id>', 'batch id')
    .option('--part-name <part>', 'part to list (repeatable; multipart batches; alias -pn)', collect)
    .option('-l, --limit <n>', 'stop after this many files', int(1))
    .option('-o, --output-file <file>', 'write JSONL here instead of stdout')
    .action(
      action(ctx, async (o, c) => {
        const sink = recordSink(o.outputFile);
        try {
          await listBatchContent(c, { batchId: o.batchId, partNames: o.partName, limit: o.limit }, sink);
        } finally {
          await sink.close();
        }
      }),
    );
  ds.command('list-ingest-details')
    .description('list the shard statuses of a batch (JSONL, snake_case keys)')
    .requiredOption('-b, --batch-id <id>', 'batch id')
    .option('-o, --output-file <file>', 'write JSONL here instead of stdout')
    .option('--page-size <n>', 'shards per page', int(1))
    .action(
      action(ctx, async (o, c) => {
        const sink = recordSink(o.outputFile);
        try {
          await listIngestDetails(c, { batchId: o.batchId, pageSize: o.pageSize }, sink);
        } finally {
          await sink.close();
        }
      }),
    );
  ds.command('create-batch-of-images')
    .description('stage images: ≤ 32 as single uploads, more as tar shards of ≤ 256 (resumable)')
    .requiredOption('-b, --batch-id <id>', 'batch id ([a-z0-9_-], ≤ 64)')
    .addOption(
      new Option('--data-source <source>', 'where images come from (alias -ds)')
        .choices(['local-directory', 'references-file', 'cloud-storage'])
        .default('local-directory'),
    )
    .option('--images-dir <dir>', 'directory of images (top level only)')
    .option('-r, --references <path-or-url>', 'JSONL file or https:// URL of {"name","url"} references')
    .option('--bucket-path <url>', BUCKET_PATH_HELP)
    .option('-i, --ingest-id <id>', 'ingest id for notifications')
    .option('--notifications-url <url>', 'webhook for ingest notifications')
    .option('--notification-category <category>', 'ingest-status | files-status (repeatable)', collect)
    .option('--batch-name <name>', 'display name of a new batch (alias -bn)')
    .action(
      action(ctx, async (o, c) => {
        const r = await createBatchOfImages(c, {
          batchId: o.batchId,
          dataSource: o.dataSource,
          imagesDir: o.imagesDir,
          references: o.references,
          bucketPath: o.bucketPath,
          batchName: o.batchName,
          ingestId: o.ingestId,
          notificationsUrl: o.notificationsUrl,
          notificationCategories: o.notificationCategory,
        });
        if (r.mode !== 'references') {
          process.stdout.write(
            `Uploaded ${r.uploaded} image(s) to batch ${o.batchId}` +
              (r.mode === 'shards'
                ? ` in ${r.shards} shard(s); they are indexed in the background (see list-ingest-details)`
                : '') +
              (r.skipped ? `; ${r.skipped} skipped as already uploaded` : '') +
              '\n',
          );
        }
      }),
    );
  ds.command('create-batch-of-videos')
    .description('stage videos (signed URL per video; resumable)')
    .requiredOption('-b, --batch-id <id>', 'batch id')
    .addOption(
      new Option('--data-source <source>', 'where videos come from (alias -ds)')
        .choices(['local-directory', 'references-file', 'cloud-storage'])
        .default('local-directory'),
    )
    .option('-v, --videos-dir <dir>', 'directory of videos (top level only)')
    .option('-r, --references <path-or-url>', 'JSONL file or https:// URL of {"name","url"} references')
    .option('--bucket-path <url>', BUCKET_PATH_HELP)
    .option('-i, --ingest-id <id>', 'ingest id')
    .option('--notifications-url <url>', 'webhook (references-file and cloud-storage only)')
    .option('--notification-category <category>', 'ingest-status | files-status (repeatable)', collect)
    .option('--batch-name <name>', 'display name of a new batch (alias -bn)')
    .action(
      action(ctx, async (o, c) => {
        const r = await createBatchOfVideos(c, {
          batchId: o.batchId,
          dataSource: o.dataSource,
          videosDir: o.videosDir,
          references: o.references,
          bucketPath: o.bucketPath,
          batchName: o.batchName,
          ingestId: o.ingestId,
          notificationsUrl: o.notificationsUrl,
          notificationCategories: o.notificationCategory,
        });
        if (o.dataSource === 'local-directory')
          process.stdout.write(`Uploaded ${r.uploaded} video(s) to batch ${o.batchId}\n`);
      }),
    );
  ds.command('export-batch')
    .description('download a batch (archives unpacked safely; resumable via .export_log.jsonl)')
    .requiredOption('-b, --batch-id <id>', 'batch id')
    .requiredOption('-t, --target-dir <dir>', 'where files go (<dir>[/<part>]/<file>)')
    .option('--part-name <part>', 'part to export (repeatable; alias -pn)', collect)
    .option('--override-existing', 'download again what was exported before', false)
    .option('--no-override-existing', 'skip what was exported before (default)')
    .action(
      action(ctx, async (o, c) => {
        const s = await exportBatch(c, {
          batchId: o.batchId,
          targetDir: o.targetDir,
          partNames: o.partName,
          overrideExisting: o.overrideExisting,
        });
        process.stdout.write(
          `Exported ${s.downloaded} file(s) to ${o.targetDir}` +
            (s.archives ? ` (${s.archives} archive(s) unpacked into ${s.extractedFiles} file(s))` : '') +
            (s.skipped ? `; ${s.skipped} skipped` : '') +
            '\n',
        );
      }),
    );

  // ---- batch processing --------------------------------------------------------------------------
  const bp = program.command('batch-processing').description('run workflows over staged batches');
  bp.command('list-jobs')
    .description('list jobs, newest first (10 per page)')
    .option('-p, --max-pages <n>', 'pages to fetch', int(1), 1)
    .action(
      action(ctx, async (o, c) => {
        await listJobs(c, o.maxPages);
      }),
    );
  bp.command('show-job-details')
    .description('show a job, its stages, task counts and grouped failures')
    .requiredOption('-j, --job-id <id>', 'job id')
    .action(action(ctx, (o, c) => showJobDetails(c, o.jobId)));
  imageDefinitionOptions(
    workflowJobOptions(
      bp.command('process-images-with-workflow').description('run a workflow over a batch of images'),
    ),
  ).action(
    action(ctx, async (o, c) =>
      submitJob(c, o, await imageJobBody(o, await c.workspace()), o.jobId ?? generateJobId()),
    ),
  );
  workflowJobOptions(
    bp.command('process-videos-with-workflow').description('run a workflow over a batch of videos'),
  )
    .option('--max-video-fps <fps>', MAX_VIDEO_FPS_HELP, int(1))
    .action(
      action(ctx, async (o, c) =>
        submitJob(c, o, await videoJobBody(o, await c.workspace()), o.jobId ?? generateJobId()),
      ),
    );
  imageDefinitionOptions(
    jobDefinitionOptions(
      bp
        .command('estimate')
        .description(
          'predict the machine time, credits and wall time of a job before running it: a sample of the batch runs as a job of its own (est-..., billed like any job); takes the options of process-images-with-workflow and process-videos-with-workflow, and works out from the batch which one it is',
        ),
    ),
  )
    .option('--max-video-fps <fps>', `${MAX_VIDEO_FPS_HELP} (video batches)`, int(1))
    .option(
      '--machines <n>',
      'machines to predict the wall time for (default: what the pool may have)',
      int(1),
    )
    .option(
      '--estimate-timeout <seconds>',
      'give up waiting for the sample after this long (0 = never)',
      int(0),
      600,
    )
    .option('--json', 'print the estimate as JSON', false)
    .action(
      action(ctx, async (o, c) => {
        const ws = await c.workspace();
        const body = (await batchHoldsVideos(c, o.batchId, o.partName))
          ? await videoJobBody(o, ws)
          : await imageJobBody(o, ws);
        const e = await estimateJob(c, body, {
          machines: o.machines,
          timeoutMs: o.estimateTimeout * 1000,
          log: (l) => process.stderr.write(`${l}\n`),
        });
        if (o.json) printJson(e);
        else process.stdout.write(`${renderEstimate(e)}\n`);
      }),
    );
  bp.command('wait-job')
    .description('follow a job with a progress bar until it finishes; exit 1 if it failed')
    .requiredOption('-j, --job-id <id>', 'job id')
    .option('--wait-timeout <seconds>', 'give up after this long (0 = never)', int(0), 0)
    .action(
      action(ctx, async (o, c) =>
        (await waitForJob(c, o.jobId, { timeoutMs: o.waitTimeout * 1000 })).error ? 1 : 0,
      ),
    );
  bp.command('watch')
    .description(
      "follow a job's live events (state, stages, tasks, logs) with a progress bar until it ends; exit 1 if it failed",
    )
    .requiredOption('-j, --job-id <id>', 'job id')
    .option('--wait-timeout <seconds>', 'give up after this long (0 = never)', int(0), 0)
    .option('--jsonl', 'print every event as a JSON line on stdout instead of the progress bar', false)
    .action(
      action(ctx, async (o, c) => {
        const job = await waitForJob(c, o.jobId, {
          timeoutMs: o.waitTimeout * 1000,
          ...(o.jsonl
            ? { progress: { silent: true }, onEvent: (e) => process.stdout.write(`${JSON.stringify(e)}\n`) }
            : { onEvent: watchLine }),
        });
        return job.error ? 1 : 0;
      }),
    );
  bp.command('abort-job')
    .description('abort a running job')
    .requiredOption('-j, --job-id <id>', 'job id')
    .action(
      action(ctx, async (o, c) => {
        await abortJob(c, o.jobId);
      }),
    );
  bp.command('restart-job')
    .description('restart a failed or aborted job, optionally overriding parameters')
    .requiredOption('-j, --job-id <id>', 'job id')
    .addOption(new Option('--machine-type <type>', 'alias -mt').choices(['cpu', 'gpu']))
    .option('--workers-per-machine <n>', 'task slots per machine', int(0))
    .option('--max-runtime-seconds <n>', MAX_RUNTIME_HELP, int(1))
    .option('--max-parallel-tasks <n>', 'cap on concurrently running tasks', int(1))
    .option('--max-image-failure-rate <rate>', 'fraction 0..1', float)
    .action(
      action(ctx, async (o, c) => {
        await restartJob(
          c,
          o.jobId,
          buildRestartBody({
            machineType: o.machineType,
            workersPerMachine: o.workersPerMachine,
            maxRuntimeSeconds: o.maxRuntimeSeconds,
            maxParallelTasks: o.maxParallelTasks,
            maxImageFailureRate: o.maxImageFailureRate,
          }),
        );
      }),
    );
  bp.command('fetch-logs')
    .description('print or save the logs of a job (JSONL, snake_case keys)')
    .requiredOption('-j, --job-id <id>', 'job id')
    .addOption(
      new Option('--log-severity <severity>', 'only this severity').choices(['info', 'error', 'warning']),
    )
    .option('-o, --output-file <file>', 'write JSONL here instead of stdout')
    .action(
      action(ctx, async (o, c) => {
        const sink = recordSink(o.outputFile);
        try {
          await fetchLogs(c, { jobId: o.jobId, severity: o.logSeverity }, sink);
        } finally {
          await sink.close();
        }
      }),
    );

  // ---- registries (visionbatch endpoints) --------------------------------------------------------
  const wf = program.command('workflows').description('workflow registry of the workspace');
  wf.command('put')
    .description('create or replace a workflow from a definition file')
    .requiredOption('--id <workflowId>', 'workflow id')
    .requiredOption('--file <definition.json>', 'workflow definition')
    .action(
      action(ctx, async (o, c) => {
        const answer = await putWorkflowFile(c, o.id, o.file);
        printJson(answer);
        for (const line of workflowWarningLines(answer)) process.stderr.write(`${line}\n`);
      }),
    );
  wf.command('get')
    .requiredOption('--id <workflowId>', 'workflow id')
    .action(action(ctx, async (o, c) => printJson(await getWorkflow(c, o.id))));
  wf.command('list').action(action(ctx, async (_o, c) => printJson(await listWorkflows(c))));
  wf.command('delete')
    .requiredOption('--id <workflowId>', 'workflow id')
    .action(action(ctx, async (o, c) => printJson(await deleteWorkflow(c, o.id))));

  const md = program.command('models').description('model registry of the workspace (ONNX weights + config)');
  md.command('upload')
    .description(
      'upload ONNX weights under a model id such as shapes-det/1; an Ultralytics export needs no config (its class names, input size and task are read from the file)',
    )
    .requiredOption('--model-id <project/version>', 'model id used by workflows')
    .requiredOption('--weights <file.onnx>', 'ONNX weights')
    .option(
      '--config <file.json>',
      'model config overriding what the file says: task, class_names, input, resize_mode, padding_value, post_processing, defaults (README: Model config)',
    )
    .action(
      action(ctx, async (o, c) =>
        printJson(await uploadModel(c, { modelId: o.modelId, weights: o.weights, config: o.config })),
      ),
    );
  md.command('get')
    .requiredOption('--model-id <project/version>', 'model id')
    .action(action(ctx, async (o, c) => printJson(await getModel(c, o.modelId))));
  md.command('list').action(action(ctx, async (_o, c) => printJson(await listModels(c))));
  md.command('delete')
    .requiredOption('--model-id <project/version>', 'model id')
    .action(action(ctx, async (o, c) => printJson(await deleteModel(c, o.modelId))));

  const hooks = program.command('webhooks').description('webhooks of the workspace');
  hooks
    .command('secret')
    .description(
      'print the Authorization value every webhook of the workspace carries (check it in your receiver)',
    )
    .option('--json', 'print workspace, authorization and source as JSON', false)
    .action(
      action(ctx, async (o, c) => {
        const secret = await webhookSecret(c);
        if (o.json) printJson(secret);
        else process.stdout.write(`${secret.authorization}\n`);
      }),
    );

  // Every subcommand inherits exitOverride, so commander errors come back to runCli.
  const override = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride();
      sub.showHelpAfterError();
      override(sub);
    }
  };
  override(program);
  return program;
}

/** The message after `Command failed. Cause:`; with debug mode the stack follows. */
export function failureText(e: unknown, debug: boolean): string {
  const msg = e instanceof Error ? e.message : String(e);
  const stack = debug && e instanceof Error && e.stack ? `\n${e.stack}` : '';
  return `Command failed. Cause: ${msg}${stack}`;
}

/**
 * Parses and runs one command line (`args` without node and script) and returns the exit code;
 * failures print `Command failed. Cause: <message>` on stderr and give 1.
 */
export async function runCli(args: readonly string[]): Promise<number> {
  const ctx: Ctx = { exitCode: 0 };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(expandAliases(args), { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    const debug = args.includes('--debug-mode') && !args.includes('--no-debug-mode');
    process.stderr.write(`${failureText(e, debug)}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}
