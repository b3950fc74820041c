/** Real processes for benchmarks: a private redis-server and the services (test/e2e/stack.ts needs vitest). */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisAuthConf, redisServerArgs } from '@visionbatch/cli/stack';
import { createRedis } from '@visionbatch/shared/redis';
import { freePort, waitFor } from '../test/support/basics.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The api and scheduler as real processes (test/e2e/stack.ts registers vitest hooks, so not that). */
export class BenchStack {
  readonly procs: ChildProcess[] = [];
  readonly workspace = 'bench';
  readonly apiKey = 'bench-key';
  constructor(readonly env: Record<string, string>) {}
  get apiUrl() {
    return `http://127.0.0.1:${this.env.VB_API_PORT}`;
  }
  static async create(redisUrl: string, dataDir: string): Promise<BenchStack> {
    return new BenchStack({
      VB_REDIS_URL: redisUrl,
      VB_DATA_DIR: dataDir,
      VB_API_PORT: String(await freePort()),
      VB_API_OPS_PORT: String(await freePort()),
      VB_SCHEDULER_GRPC_PORT: String(await freePort()),
      VB_SCHEDULER_HTTP_PORT: String(await freePort()),
      VB_API_KEYS: 'bench-key:bench',
      VB_LOG_LEVEL: 'warn',
    });
  }
  /** Starts a service; `env` may give a second scheduler its own ports. Resolves once /readyz answers. */
  async start(
    service: 'api' | 'scheduler' | 'worker',
    env: Record<string, string> = {},
  ): Promise<ChildProcess> {
    const port =
      service === 'api'
        ? this.env.VB_API_PORT
        : service === 'scheduler'
          ? (env.VB_SCHEDULER_HTTP_PORT ?? this.env.VB_SCHEDULER_HTTP_PORT)
          : String(await freePort());
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'services', service, 'src', 'main.ts')],
      {
        cwd: ROOT,
        env: { ...process.env, ...this.env, VB_WORKER_HTTP_PORT: port, ...env },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    this.procs.push(child);
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200,
      { timeoutMs: 60_000, intervalMs: 100, message: `${service} ready` },
    );
    return child;
  }
  async call(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${this.apiUrl}${p}${p.includes('?') ? '&' : '?'}api_key=${this.apiKey}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    return { status: res.status, json: await res.json() };
  }
  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map((c) =>
        c.exitCode === null
          ? new Promise((r) => {
              c.once('exit', r);
              c.kill('SIGTERM');
            })
          : null,
      ),
    );
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (clock ticks of 1/100 s). */
export function cpuSecondsOf(pid: number | 'self'): number {
  try {
    // fields[0] is field 3 (state) of proc(5): utime is field 14, stime 15
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[14 - 3]) + Number(fields[15 - 3])) / 100;
  } catch {
    return 0; // the process has exited
  }
}

/** A private redis-server for a benchmark (no persistence), with a password as in production. */
export async function startRedis(dir: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const auth = redisAuthConf(dir);
  const proc = spawn('redis-server', redisServerArgs(port, dir, ['--appendonly', 'no'], auth.file), {
    stdio: 'ignore',
  });
  const url = `redis://:${auth.password}@127.0.0.1:${port}`;
  await waitFor(
    async () => {
      const r = createRedis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      r.on('error', () => {}); // refused until the server listens; the probe retries
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        r.disconnect();
      }
    },
    { timeoutMs: 10_000, intervalMs: 100, message: 'redis-server' },
  );
  return { url, proc };
}
