/**
 * `--data-source cloud-storage`, as a user runs it: the `visionbatch` command (a real process)
 * lists a bucket on the suite's S3 server with the credentials of an AWS profile, presigns a URL per
 * image and registers them as a reference ingest; the scheduler downloads them (loopback allowed by
 * VB_URL_ALLOWLIST) and a job processes all 300.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateImageDataset } from '@visionbatch/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createJob,
  ds,
  exportResults,
  imageJobBody,
  registerModelAndWorkflow,
  score,
  stages,
  startStack,
  waitTerminal,
} from '../e2e/e2e-support.ts';
import type { Stack } from '../e2e/stack.ts';
import {
  flushRedisTestDb,
  redisTestUrl,
  s3TestClient,
  s3TestInfo,
  useS3Bucket,
  useTempDir,
  waitFor,
} from '../support/helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const COUNT = 300;

describe('staging a bucket with --data-source cloud-storage', () => {
  let stack: Stack;
  let dir: string;
  let bucket: string;
  let truth: Record<string, unknown[]>;

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-e2e-cloud-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'), {
      VB_URL_ALLOWLIST: '127.0.0.1', // the S3 server listens on loopback
      VB_IMAGES_PER_TASK: '100',
    });
    await registerModelAndWorkflow(stack, dir);

    const images = await generateImageDataset({ dir: path.join(dir, 'images'), count: COUNT, seed: 31 });
    truth = images.groundTruth;
    bucket = useS3Bucket('cloud-storage');
    const s3 = s3TestClient();
    await s3.makeBucket(bucket, s3TestInfo().region);
    for (const f of images.files)
      await s3.putObject(bucket, `photos/${f}`, await readFile(path.join(images.dir, f)));
    // Not images, or not under the prefix: never registered.
    await s3.putObject(bucket, 'photos/notes.txt', Buffer.from('not an image'));
    await s3.putObject(bucket, 'elsewhere/x.jpg', await readFile(path.join(images.dir, images.files[0])));
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('lists, presigns and registers the images of the prefix, and a job processes every one', async () => {
    // Credentials from a profile, as `aws configure --profile ci` would write them.
    const home = path.join(dir, 'home');
    await mkdir(path.join(home, '.aws'), { recursive: true });
    const s3 = s3TestInfo();
    await writeFile(
      path.join(home, '.aws', 'credentials'),
      `[ci]\naws_access_key_id = ${s3.accessKey}\naws_secret_access_key = ${s3.secretKey}\n`,
    );
    const { AWS_ACCESS_KEY_ID: _k, AWS_SECRET_ACCESS_KEY: _s, ...env } = process.env;
    const cli = await promisify(execFile)(
      process.execPath,
      [
        path.join(ROOT, 'packages', 'cli', 'bin', 'visionbatch.js'),
        '--api-url',
        stack.apiUrl,
        '-a',
        stack.apiKey,
        'data-staging',
        'create-batch-of-images',
        '-b',
        'from-bucket',
        '-ds',
        'cloud-storage',
        '-bp',
        `s3://${bucket}/photos/`,
      ],
      {
        cwd: dir,
        env: {
          ...env,
          HOME: home,
          AWS_PROFILE: 'ci',
          AWS_ENDPOINT_URL: s3.endPoint,
          AWS_REGION: s3.region,
        },
        timeout: 120_000,
      },
    );
    expect(cli.stderr).toContain(`Listing s3://${bucket}/photos/`);
    expect(cli.stderr).toContain(`Registered ${COUNT} image(s) from s3://${bucket}/photos/ in 1 request(s)`);
    // the presigned URLs (and their signatures) are never printed
    expect(`${cli.stdout}${cli.stderr}`).not.toMatch(/X-Amz-Signature/i);

    await waitFor(
      async () => {
        const r = await stack.call('GET', `${ds(stack)}/batches/from-bucket/count`);
        return r.status === 200 && r.json.count === COUNT;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: `${COUNT} images downloaded into the batch` },
    );

    await createJob(stack, 'from-bucket-job', imageJobBody(stack, 'from-bucket'));
    const job = await waitTerminal(stack, 'from-bucket-job', 240_000);
    expect(job.error, JSON.stringify(job.lastNotification)).toBe(false);
    const processing = (await stages(stack, 'from-bucket-job')).find(
      (s) => s.processingStageName === 'processing',
    );
    expect(processing.notification).toMatchObject({ filesProcessed: COUNT, filesFailed: 0 });
    const rows = await exportResults(stack, 'from-bucket-job', path.join(dir, 'out'));
    expect(rows).toHaveLength(COUNT);
    const s = score(truth as never, rows);
    expect(s.missing).toEqual([]);
    expect(s.recall).toBe(1);
  }, 420_000);
});
