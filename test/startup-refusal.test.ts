/**
 * A deployment whose Secrets were never filled in must not start: each service, given an empty or
 * placeholder secret, exits at once with a message naming the variable (and never the value).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function run(service: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'services', service, 'src', 'main.ts')],
      // Nothing to connect to: a process that got past its configuration would hang, not exit.
      {
        cwd: ROOT,
        env: { ...process.env, VB_REDIS_URL: 'redis://127.0.0.1:1', VB_LOG_LEVEL: 'silent', ...env },
      },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('services refuse to start on unfilled secrets', () => {
  it.each([
    ['api', 'VB_API_KEYS', ''],
    ['api', 'VB_API_KEYS', 'CHANGE-ME-api-key:demo'],
    ['api', 'VB_URL_SIGNING_SECRET', 'CHANGE-ME-url-signing-secret-at-least-32-bytes'],
    ['scheduler', 'VB_REDIS_PASSWORD', ''],
    ['worker', 'VB_REDIS_PASSWORD', 'CHANGE-ME-redis-password'],
    ['scheduler', 'VB_CONTROL_PLANE_SECRET', 'CHANGE-ME-control-plane-secret'],
    ['worker', 'VB_CONTROL_PLANE_SECRET', ''],
  ])('%s with %s=%j exits naming the variable', async (service, name, value) => {
    const { code, output } = await run(service, { [name]: value });
    expect(code).not.toBe(0);
    expect(output).toContain(`ConfigError: ${name}: `);
    if (value) expect(output).not.toContain(value);
  });
});
