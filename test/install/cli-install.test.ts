/**
 * The CLI as a newcomer installs it: `npm install -g .` of the checkout (here into a temporary
 * prefix, so the machine's global folder is untouched) gives a `visionbatch` command that works from
 * any folder, and neither the install nor the command prints npm warnings.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../support/helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

/** Runs a command and returns its exit code and output, whether it fails or not. */
async function sh(
  file: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(file, args, { ...opts, timeout: 60_000, encoding: 'utf8' });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : 1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    };
  }
}

/** The environment of npm and of the installed command: `-g` goes to `prefix`, whose bin is on PATH. */
const npmEnv = (prefix: string): NodeJS.ProcessEnv => ({
  ...process.env,
  npm_config_prefix: prefix,
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
  PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH}`,
});

describe('installing the CLI', () => {
  it('npm install -g . gives a visionbatch command that works from another folder, without npm warnings', async () => {
    const prefix = await useTempDir('vb-global-');
    const install = await sh('npm', ['install', '-g', '--prefix', prefix, ROOT], {
      cwd: ROOT,
      env: npmEnv(prefix),
    });
    expect(install.code, install.stderr).toBe(0);
    expect(`${install.stdout}${install.stderr}`).not.toMatch(/npm warn/i);

    const elsewhere = await useTempDir('vb-cwd-');
    const help = await sh('visionbatch', ['--help'], { cwd: elsewhere, env: npmEnv(prefix) });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: visionbatch/);
    expect(help.stdout).toContain('data-staging');
    expect(help.stderr).toBe('');
  });

  it('npx visionbatch inside the checkout prints no npm warnings', async () => {
    const r = await sh('npx', ['--no-install', 'visionbatch', '--help'], { cwd: ROOT });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: visionbatch/);
    expect(r.stderr).not.toMatch(/npm warn/i);
  });

  it('a linked checkout without its dependencies says to run npm ci instead of a stack trace', async () => {
    // A clone before `npm ci`: the package.json and the bin script, no node_modules.
    const checkout = await useTempDir('vb-bare-checkout-');
    await cp(path.join(ROOT, 'package.json'), path.join(checkout, 'package.json'));
    await mkdir(path.join(checkout, 'packages', 'cli', 'bin'), { recursive: true });
    await cp(
      path.join(ROOT, 'packages', 'cli', 'bin', 'visionbatch.js'),
      path.join(checkout, 'packages', 'cli', 'bin', 'visionbatch.js'),
    );
    const prefix = await useTempDir('vb-global-bare-');
    const install = await sh('npm', ['install', '-g', '--prefix', prefix, checkout], {
      cwd: os.tmpdir(),
      env: npmEnv(prefix),
    });
    expect(install.code, install.stderr).toBe(0);
    const r = await sh('visionbatch', ['--help'], { cwd: os.tmpdir(), env: npmEnv(prefix) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('are not installed; run `npm ci` there');
    expect(r.stderr).not.toMatch(/at .*\(node:internal/);
  });
});
