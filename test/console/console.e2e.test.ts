/**
 * The console in a real headless Chromium over a real stack (api, scheduler, worker processes):
 * a refused key says so, sign-in, images uploaded from the browser through the signed-URL flow,
 * a job created on the New job page whose progress bar reaches 100 % on the open page (no
 * reload), its logs with the severity filter, a result archive downloaded through its link, a
 * second job aborted with the button. Every page is saved as a screenshot (artifacts/console/).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { putWorkflow } from '@visionbatch/cli';
import { generateImageDataset } from '@visionbatch/models';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bp,
  client,
  createJob,
  registerModelAndWorkflow,
  registerSlowModel,
  slowJobBody,
  stageImages,
  startStack,
  WORKFLOW_ID,
} from '../e2e/e2e-support.ts';
import type { Stack } from '../e2e/stack.ts';
import { flushRedisTestDb, redisTestUrl, useTempDir, waitFor } from '../support/helpers.ts';
import { launchBrowser, screenshot } from './browser.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGES = 24;
const DRAW_WORKFLOW = 'draw';

describe('web console in headless Chromium', () => {
  let stack: Stack;
  let dir: string;
  let browser: Browser;
  let page: Page;
  let imagePaths: string[];
  /** Uncaught errors in the page (each fails the file), and the console's error lines (for failures). */
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  // Code that runs in the page is written as strings: this file is type-checked without the DOM.
  const text = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');
  const go = (hash: string) => page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  /** The state badge of the job page. */
  const jobStateIs = (state: string) =>
    page.waitForFunction(
      `document.querySelector('.facts .badge')?.textContent === ${JSON.stringify(state)}`,
      {
        timeout: 60_000,
      },
    );

  beforeAll(async () => {
    await flushRedisTestDb();
    dir = await useTempDir('vb-console-');
    stack = await startStack(redisTestUrl(), path.join(dir, 'data'), { VB_IMAGES_PER_TASK: '4' });
    await registerModelAndWorkflow(stack, dir);
    await registerSlowModel(stack, dir);
    // boxes and labels drawn on each image: the job's persisted images show as thumbnails
    const draw = JSON.parse(await readFile(path.join(ROOT, 'examples/workflows/visualisation.json'), 'utf8'));
    await putWorkflow(client(stack), DRAW_WORKFLOW, draw);
    const ds = await generateImageDataset({ dir: path.join(dir, 'upload'), count: IMAGES - 1, seed: 5 });
    imagePaths = ds.files.map((f) => path.join(ds.dir, f));
    // a truncated JPEG: staged like the others, it fails in processing with an error log line
    const first = await readFile(imagePaths[0]);
    await writeFile(path.join(ds.dir, 'truncated.jpg'), first.subarray(0, 300));
    imagePaths.push(path.join(ds.dir, 'truncated.jpg'));
    browser = await launchBrowser();
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    if (consoleErrors.length) console.error(`browser console errors:\n${consoleErrors.join('\n')}`);
    expect(pageErrors, 'uncaught errors in the page').toEqual([]);
  });

  it('a refused API key gets a clear message and stores nothing', async () => {
    await page.goto(`${stack.apiUrl}/console`);
    await page.waitForSelector('input[name="apiKey"]');
    await page.type('input[name="apiKey"]', 'not-a-key');
    await page.click('button[type="submit"]');
    await page.waitForSelector('.error');
    expect(await text('.error')).toBe('This API key was not accepted. Check the key and try again.');
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await screenshot(page, 'sign-in-refused');
  });

  it('signs in; the key is kept in the session, never shown', async () => {
    await page.type('input[name="apiKey"]', stack.apiKey);
    await page.click('button[type="submit"]');
    await page.waitForSelector('table.jobs');
    expect(await text('.workspace')).toBe(stack.workspace);
    expect(await page.content()).not.toContain(stack.apiKey);
    expect(await page.evaluate(`sessionStorage.getItem('vb.apiKey')`)).toBe(stack.apiKey);
  });

  it('uploads images from the browser (tar shards through signed URLs) and lists them', async () => {
    await go('#/batches');
    const input = await page.waitForSelector('form.upload input[type="file"]');
    await page.type('form.upload input[name="batchId"]', 'browser-upload');
    await input?.uploadFile(...imagePaths);
    await page.click('form.upload button[type="submit"]');
    // The batch page follows the shard's ingest by itself until every file is counted.
    await page.waitForFunction(`document.querySelector('.file-count')?.textContent === '${IMAGES}'`, {
      timeout: 60_000,
    });
    await page.waitForSelector('ul.files li a.download');
    expect(await page.$$eval('ul.files a.download', (as) => as.length)).toBeGreaterThan(0);
    await screenshot(page, 'batch');
    await go('#/batches');
    await page.waitForFunction(`document.body.innerText.includes('browser-upload')`);
    await screenshot(page, 'batches');
  });

  it('creates a job on the New job page and watches it reach 100 % without a reload', async () => {
    await go('#/new-job');
    // (Preact sets an option's value as a property, not an attribute.)
    await page.waitForFunction(
      `[...document.querySelectorAll('select[name="batchId"] option')].some((o) => o.value === 'browser-upload')`,
    );
    await page.select('select[name="batchId"]', 'browser-upload');
    await page.select('select[name="workflowId"]', DRAW_WORKFLOW);
    await page.type('input[name="jobId"]', 'from-console');
    await page.type('input[name="name"]', 'Console job');
    await page.click('input[name="persistImagesOutputs"]');
    await screenshot(page, 'new-job');
    await page.click('form.new-job button[type="submit"]');
    await page.waitForSelector('.review button.primary');
    // A reload would lose these: the flag, and every value the job's progress bar shows, in order.
    await page.evaluate(`
      window.vbNoReload = true;
      window.vbProgress = [];
      new MutationObserver(() => {
        const v = document.querySelector('[aria-label="job progress"]')?.getAttribute('aria-valuenow') ?? 'none';
        if (window.vbProgress[window.vbProgress.length - 1] !== v) window.vbProgress.push(v);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    `);
    await page.click('.review button.primary');
    await page.waitForFunction(`location.hash === '#/jobs/from-console'`);
    await page.waitForFunction(
      `document.querySelector('[aria-label="job progress"]')?.getAttribute('aria-valuenow') === '100' &&
       document.querySelector('.facts .badge')?.textContent === 'succeeded'`,
      { timeout: 90_000 },
    );
    const seen = (await page.evaluate('window.vbProgress')) as string[];
    expect(seen[seen.length - 1]).toBe('100');
    expect(
      seen.some((v) => v !== '100'),
      `progress seen: ${seen.join(' ')}`,
    ).toBe(true);
    expect(await page.evaluate('window.vbNoReload')).toBe(true);
    await screenshot(page, 'job');
  });

  it('shows the logs, filtered by severity', async () => {
    await page.waitForSelector('table.logs tr.log-error');
    expect(await text('table.logs')).toContain('truncated.jpg');
    await page.select('select[name="severity"]', 'warning');
    await page.waitForFunction(`document.body.innerText.includes('No log lines of severity warning')`);
    await page.select('select[name="severity"]', 'error');
    await page.waitForSelector('table.logs tr.log-error');
    expect(await page.$$eval('table.logs tr:not(.log-error)', (rows) => rows.length)).toBe(0);
    await page.select('select[name="severity"]', '');
  });

  it('downloads a result archive through its link', async () => {
    const downloads = await useTempDir('vb-console-dl-');
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    const link = await page.waitForSelector('section a.download[href*="export"]', { timeout: 30_000 });
    const name = await link?.evaluate((a) => a.getAttribute('download'));
    await link?.click();
    await waitFor(async () => (await readdir(downloads)).includes(name as string), {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: `${name} downloaded`,
    });
    const bytes = await readFile(path.join(downloads, name as string));
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]); // a gzip archive
  });

  it('shows the persisted visualisation images as thumbnails', async () => {
    await page.waitForFunction(
      `[...document.querySelectorAll('ul.files.thumbs img')].some((i) => i.complete && i.naturalWidth > 0)`,
      { timeout: 20_000 },
    );
    expect(await page.$$eval('ul.files.thumbs img', (imgs) => imgs.length)).toBeGreaterThanOrEqual(
      IMAGES - 1,
    );
  });

  it('aborts a second job with the button and shows it ended', async () => {
    const staged = await stageImages(stack, dir, 'abort-me', 48, 9);
    expect(staged.files.length).toBe(48);
    await createJob(stack, 'abort-me', slowJobBody(stack, 'abort-me', { maxParallelTasks: 1 }));
    await go('#/jobs/abort-me');
    await jobStateIs('running');
    page.once('dialog', (d) => void d.accept());
    await page.click('.actions button.danger');
    await jobStateIs('aborted');
    const r = await stack.call('GET', `${bp(stack)}/jobs/abort-me`);
    expect(r.json.job.state).toBe('aborted');
    await page.waitForSelector('.actions button:not(.danger)');
    await screenshot(page, 'job-aborted');
  });

  it('shows the jobs, models, workflows and machines pages, and the API docs', async () => {
    await go('#/jobs');
    await page.waitForSelector('tr[data-job="from-console"]');
    expect(await text('tr[data-job="from-console"]')).toContain('Console job');
    await screenshot(page, 'jobs');
    await go('#/models/shapes-det/1');
    await page.waitForFunction(`document.body.innerText.includes('object-detection')`);
    // upload a model from the browser: the ONNX file alone (its metadata says the rest)
    await page.type('form.upload-model input[name="modelId"]', 'browser/1');
    const weights = await page.$('form.upload-model input[name="weights"]');
    await weights?.uploadFile(path.join(ROOT, 'examples/shapes-det.onnx'));
    await page.click('form.upload-model button[type="submit"]');
    await page.waitForFunction(`document.querySelector('ul.ids')?.innerText.includes('browser/1')`, {
      timeout: 30_000,
    });
    const model = await stack.call('GET', `/models/v1/external/${stack.workspace}/models/browser/1`);
    expect(model.json.model.classNames.length).toBeGreaterThan(0);
    await screenshot(page, 'models');
    await go(`#/workflows/${WORKFLOW_ID}`);
    await page.waitForFunction(
      `document.querySelector('textarea[name="definition"]')?.value.includes('steps')`,
    );
    // the definition saved again under another id
    await page.click('form.workflow input[name="workflowId"]', { count: 3 });
    await page.type('form.workflow input[name="workflowId"]', 'saved-from-console');
    await page.click('form.workflow button[type="submit"]');
    await page.waitForFunction(`document.body.innerText.includes('Workflow created.')`);
    const saved = await stack.call(
      'GET',
      `/workflows/v1/external/${stack.workspace}/workflows/saved-from-console`,
    );
    expect(saved.status).toBe(200);
    await screenshot(page, 'workflows');
    await go('#/machines');
    await page.waitForFunction(`document.querySelectorAll('table.pools tbody tr').length === 2`);
    expect(await text('table.pools')).toContain('cpu');
    await screenshot(page, 'machines');
    await page.goto(`${stack.apiUrl}/docs`);
    await page.waitForSelector('.opblock', { timeout: 30_000 });
    await screenshot(page, 'api-docs', false);
  });
});
