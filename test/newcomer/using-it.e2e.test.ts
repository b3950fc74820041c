/**
 * The newcomer test: the commands of the README's "Using it" section, parsed out of its `bash`
 * blocks and run as written, one after another, against a fresh stack that the first of them
 * (`visionbatch up`) starts, with the example files they name. A command that fails, or whose
 * documented outcome does not happen, fails the test; so does a README that drifts from the CLI.
 *
 * They run in a fresh folder holding a copy of the checkout's `examples/` (uploads write resume logs
 * next to the files) and a link to its `node_modules/` (what `npx` resolves `visionbatch` from), so
 * `./.data` and `./out` land there; only the ports are moved off the defaults, so that a stack
 * already running on this machine is left alone.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, readdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, useTempDir } from '../support/helpers.ts';
import { sectionCommands } from './readme-blocks.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Ran {
  command: string;
  code: number;
  stdout: string;
  stderr: string;
}

function sh(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      'sh',
      ['-c', command],
      { cwd, env, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ command, code, stdout, stderr });
      },
    );
  });
}

/** Every row of the JSONL results files under `dir`. */
async function rows(dir: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.jsonl') || e.name.startsWith('.')) continue;
    for (const line of (await readFile(path.join(e.parentPath, e.name), 'utf8')).split('\n'))
      if (line.trim()) out.push(JSON.parse(line));
  }
  return out;
}

const predictionsOf = (v: unknown): Array<Record<string, unknown>> =>
  ((typeof v === 'string' ? JSON.parse(v) : v) as { predictions: Array<Record<string, unknown>> })
    .predictions;

describe('the README\'s "Using it" commands, as written', () => {
  const commands = sectionCommands(readFileSync(path.join(ROOT, 'README.md'), 'utf8'), 'Using it');
  const ran: Ran[] = [];
  let cwd: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    cwd = await useTempDir('vb-newcomer-');
    await cp(path.join(ROOT, 'examples'), path.join(cwd, 'examples'), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules'), path.join(cwd, 'node_modules'));
    // The newcomer's environment: none of the suite's VB_* settings, the default key and data dir.
    env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('VB_') && k !== 'ROBOFLOW_API_KEY'),
    );
    for (const v of [
      'VB_API_PORT',
      'VB_REDIS_PORT',
      'VB_SCHEDULER_GRPC_PORT',
      'VB_SCHEDULER_HTTP_PORT',
      'VB_WORKER_HTTP_PORT',
    ])
      env[v] = String(await freePort());
  });

  afterAll(async () => {
    // Whatever happened, stop what `up` started.
    if (ran.some((r) => / up\b/.test(r.command))) await sh('npx visionbatch down', cwd, env);
  });

  it('starts with up, ends with down, and uses only files the repository has', () => {
    expect(commands[0]).toMatch(/^npx visionbatch up\b/);
    expect(commands.at(-1)).toMatch(/^npx visionbatch down\b/);
    expect(commands.length).toBeGreaterThanOrEqual(10);
  });

  it('runs every command successfully, with the outcomes the README describes', async () => {
    for (const command of commands) {
      const r = await sh(command, cwd, env);
      ran.push(r);
      if (r.code !== 0) {
        const logs = await readdir(path.join(cwd, '.data', 'logs')).catch(() => []);
        throw new Error(
          `"${command}" exited with ${r.code}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-4000)}\nlogs: ${logs.join(', ')}`,
        );
      }
    }
    const find = (re: RegExp) => ran.find((r) => re.test(r.command)) as Ran;

    // Registered from the file's metadata alone.
    const upload = JSON.parse(find(/models upload --model-id shapes-det\/1 /).stdout);
    expect(upload.model.classNames).toEqual(['red', 'green', 'blue']);
    expect(find(/--config examples\/model-config.json/).code).toBe(0);

    // --wait ends with the summary the README quotes.
    expect(find(/-j my-job --wait/).stderr).toContain(
      '1 of 7 files failed: corrupt-image ×1 (truncated.jpg); see fetch-logs -j my-job',
    );
    expect(find(/show-job-details -j my-job/).stdout).toMatch(/Compute: +[\d.]+ s CPU/);

    const images = await rows(path.join(cwd, 'out'));
    expect(images.map((r) => r.image).sort()).toEqual([
      'img-0000-640x640.jpg',
      'img-0001-1280x720.jpg',
      'img-0002-640x480.jpg',
      'img-0003-480x640.png',
      'img-0004-1024x768.jpg',
      'img-0005-720x1280.jpg',
    ]);
    const classes = new Set(images.flatMap((r) => predictionsOf(r.predictions).map((p) => p.class)));
    expect([...classes].sort()).toEqual(['blue', 'green', 'red']);

    // The visualisation's drawn images, unpacked as the README says.
    const drawn = await readdir(path.join(cwd, 'out-draw', 'images', 'img-0000-640x640.jpg'));
    expect(drawn).toContain('annotated.jpg');

    // Video rows: tracked detections, frame numbers and timestamps as documented.
    const frames = await rows(path.join(cwd, 'out-video'));
    expect(frames.length).toBe(10);
    const first = frames.find((f) => f.frame_number === 4) as Record<string, unknown>;
    expect(first).toMatchObject({ video: 'squares.mp4', frame_timestamp: '1970-01-01T00:00:00.200Z' });
    expect(predictionsOf(first.tracked).every((p) => typeof p.tracker_id === 'number')).toBe(true);
  }, 900_000);
});
