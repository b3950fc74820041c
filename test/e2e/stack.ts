import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkAnswer, failOnViolations } from '../contract/openapi-contract.ts';
import { freePort, waitFor } from '../support/helpers.ts';

// Every answer of every file's stack is held against /openapi.json (test/contract).
failOnViolations();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type ServiceName = 'api' | 'scheduler' | 'worker';

/** A visionbatch stack of real processes (api, scheduler, workers) over real HTTP and gRPC. */
export class Stack {
  readonly procs = new Map<string, ChildProcess>();
  readonly env: Record<string, string>;
  readonly apiUrl: string;
  readonly apiKey = 'e2e-key';
  readonly workspace = 'e2e';

  private constructor(env: Record<string, string>) {
    this.env = env;
    this.apiUrl = `http://127.0.0.1:${env.VB_API_PORT}`;
  }

  /** Allocates ports; nothing starts until {@link start}. `extraEnv` is passed to every process. */
  static async create(opts: {
    redisUrl: string;
    dataDir: string;
    extraEnv?: Record<string, string>;
  }): Promise<Stack> {
    const [api, apiOps, grpc, sched] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    return new Stack({
      VB_REDIS_URL: opts.redisUrl,
      VB_DATA_DIR: opts.dataDir,
      VB_API_PORT: String(api),
      VB_API_OPS_PORT: String(apiOps),
      VB_SCHEDULER_GRPC_PORT: String(grpc),
      VB_SCHEDULER_HTTP_PORT: String(sched),
      VB_API_KEYS: 'e2e-key:e2e',
      VB_LOG_LEVEL: 'info',
      VB_SCHEDULER_TICK_MS: '100',
      ...opts.extraEnv,
    });
  }

  /** Starts one process; `name` may be e.g. `worker-2`. Resolves once its /readyz answers 200. */
  async start(
    service: ServiceName,
    name: string = service,
    env: Record<string, string> = {},
  ): Promise<ChildProcess> {
    const httpPort =
      service === 'api'
        ? this.env.VB_API_PORT
        : service === 'scheduler'
          ? (env.VB_SCHEDULER_HTTP_PORT ?? this.env.VB_SCHEDULER_HTTP_PORT)
          : (env.VB_WORKER_HTTP_PORT ?? String(await freePort()));
    const logPath = path.join(this.env.VB_DATA_DIR, 'logs', `${name}.log`);
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    const log = fs.openSync(logPath, 'a');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'services', service, 'src', 'main.ts')],
      {
        cwd: ROOT,
        env: { ...process.env, ...this.env, VB_WORKER_HTTP_PORT: httpPort, VB_WORKER_ID: name, ...env },
        stdio: ['ignore', log, log],
      },
    );
    fs.closeSync(log);
    this.procs.set(name, child);
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`${name} exited with ${child.exitCode}: ${this.tail(name)}`);
        const r = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null);
        return r?.status === 200;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `${name} ready` },
    );
    return child;
  }

  tail(name: string, lines = 30): string {
    try {
      return fs
        .readFileSync(path.join(this.env.VB_DATA_DIR, 'logs', `${name}.log`), 'utf8')
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '(no log)';
    }
  }

  /**
   * Settings for a second scheduler replica: its own ports, and `VB_SCHEDULER_URL` naming both
   * replicas (grpc-js's `ipv4:` resolver; its pick_first policy fails over when one dies). Pass
   * `schedulerUrl` to every process (api, workers, both schedulers).
   */
  async secondScheduler(): Promise<{ env: Record<string, string>; schedulerUrl: string }> {
    const [grpc, http] = [await freePort(), await freePort()];
    return {
      env: { VB_SCHEDULER_GRPC_PORT: String(grpc), VB_SCHEDULER_HTTP_PORT: String(http) },
      schedulerUrl: `ipv4:127.0.0.1:${this.env.VB_SCHEDULER_GRPC_PORT},127.0.0.1:${grpc}`,
    };
  }

  /** Waits for a process to exit on its own (a fault point); answers its signal or exit code. */
  async exited(name: string, timeoutMs = 60_000): Promise<string> {
    const child = this.procs.get(name);
    if (!child) throw new Error(`no process ${name}`);
    const why = () => child.signalCode ?? (child.exitCode !== null ? String(child.exitCode) : null);
    await waitFor(() => why() !== null, { timeoutMs, intervalMs: 50, message: `${name} exited` });
    this.procs.delete(name);
    return why() as string;
  }

  /** Kills a process: SIGKILL to simulate a crash, SIGTERM for a clean stop. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.procs.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.procs.delete(name);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((n) => this.kill(n)));
  }

  /** An API call with the stack's key; returns status and parsed JSON. */
  async call(
    method: string,
    p: string,
    body?: unknown,
    init: RequestInit = {},
  ): Promise<{ status: number; json: any }> {
    const url = `${this.apiUrl}${p}${p.includes('?') ? '&' : '?'}api_key=${this.apiKey}`;
    const res = await fetch(url, {
      method,
      ...(body !== undefined
        ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
        : {}),
      ...init,
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {}
    const prefix = this.env.VB_MOUNT_PREFIX ?? '';
    const pathname = new URL(url).pathname;
    checkAnswer(
      method,
      prefix && pathname.startsWith(prefix) ? pathname.slice(prefix.length) : pathname,
      res.status,
      json,
      res.headers.get('content-type'),
    );
    return { status: res.status, json };
  }
}
