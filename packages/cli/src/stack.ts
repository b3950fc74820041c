import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { access, constants, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Config, loadConfig, type RedisConnectionConfig } from '@visionbatch/shared/config';
import { createRedis, redactRedisUrl } from '@visionbatch/shared/redis';
import { CliError } from './cli-error.ts';
import { table } from './format.ts';

type Env = Record<string, string | undefined>;

/**
 * redis-server's arguments with the settings visionbatch needs in production: AOF on (no state
 * lost on a restart), `noeviction` (queues are never silently evicted), no RDB snapshots; bound to
 * loopback; with `authConf` ({@link redisAuthConf}) as its config file, a password. Used by
 * `visionbatch up`, the test servers and the benchmarks.
 */
export function redisServerArgs(
  port: number,
  dir: string,
  extra: readonly string[] = [],
  authConf?: string,
): string[] {
  return [
    // redis-server takes a config file only as its first argument.
    ...(authConf ? [authConf] : []),
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
    ...['--appendonly', 'yes', '--maxmemory-policy', 'noeviction', '--save', ''],
    ...extra,
    ...['--daemonize', 'no'],
  ];
}

/**
 * The password of a Redis that visionbatch starts itself: `<dir>/auth.conf` holds `requirepass`
 * (mode 0600) and is redis-server's config file, so the password is on no command line. Made once
 * per directory (hex, so it needs no escaping in a URL or the file), then read back.
 */
export function redisAuthConf(dir: string): { file: string; password: string } {
  const file = path.join(dir, 'auth.conf');
  const read = () => /^requirepass "([0-9a-f]+)"$/m.exec(readFileSync(file, 'utf8'))?.[1];
  try {
    const password = read();
    if (password) return { file, password };
  } catch {}
  mkdirSync(dir, { recursive: true });
  const password = randomBytes(24).toString('hex');
  try {
    writeFileSync(file, `requirepass "${password}"\n`, { mode: 0o600, flag: 'wx' });
    return { file, password };
  } catch {
    // Another process made it first (or it is unreadable, which the caller should hear about).
    const existing = read();
    if (!existing) throw new CliError(`${file} holds no requirepass line; remove it to make a new one`);
    return { file, password: existing };
  }
}

/** One process of the local stack. */
export interface StackComponent {
  /** `redis`, `api`, `scheduler`, `worker`: names the pid and log files. */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Env;
  /**
   * Text that must appear in `/proc/<pid>/cmdline` for a pid file to count as ours, so a pid the
   * OS has reused for another program is never signalled.
   */
  cmdlineMarker: string;
  /** TCP port it listens on, checked to be free before starting (0 = none/any). */
  port: number;
  /** What is probed for readiness, for messages. */
  probeLabel: string;
  /** Resolves true once the process serves. */
  probe: () => Promise<boolean>;
}

/** Where `up` keeps its files under the data dir. */
export interface StackLayout {
  dataDir: string;
  logsDir: string;
  runDir: string;
}

export function stackLayout(dataDir: string): StackLayout {
  return { dataDir, logsDir: path.join(dataDir, 'logs'), runDir: path.join(dataDir, 'run') };
}

export const pidFile = (l: StackLayout, name: string) => path.join(l.runDir, `${name}.pid`);
export const logFile = (l: StackLayout, name: string) => path.join(l.logsDir, `${name}.log`);

/** The repository root, from this file's location (`packages/cli/src/stack.ts`). */
export function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET `url` → 200 within 1 s. */
export async function httpReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Redis answers PING (one short-lived connection per probe, no retries). */
export async function redisReady(conn: Parameters<typeof createRedis>[0]): Promise<boolean> {
  const redis = createRedis(conn, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const done = (v: boolean) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** An executable named `name` on PATH, or null. */
export async function findOnPath(name: string, env: Env = process.env): Promise<string | null> {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const p = path.join(dir, name);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

function signalAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether process group `pgid` has a live (non-zombie) member. On Linux from `/proc`: orphaned
 * zombies (tsx's esbuild helper, once its node parent is gone) linger until init reaps them and
 * must not count. Elsewhere, signal 0 to the group.
 */
export async function groupAlive(pgid: number): Promise<boolean> {
  if (process.platform !== 'linux') return signalAlive(-pgid);
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return signalAlive(-pgid);
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = await readFile(`/proc/${d}/stat`, 'utf8');
      // Fields after "(comm)": state, ppid, pgrp, ...
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
    } catch {}
  }
  return false;
}

/**
 * Whether `pid` is alive and is the program we started (Linux: its command line contains the
 * marker; zombies have an empty one and count as dead). Elsewhere only liveness is checked.
 */
export async function isOurProcess(pid: number, marker: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1 || !signalAlive(pid)) return false;
  if (process.platform !== 'linux') return true;
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
    return cmdline.includes(marker);
  } catch {
    return false;
  }
}

async function readPid(file: string): Promise<number | null> {
  try {
    const n = Number.parseInt((await readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

/** The last `lines` lines of a log file ('' when missing). */
export async function tailFile(file: string, lines = 40): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  } catch {
    return '';
  }
}

/** Spawns a component detached (its own process group), output appended to its log, pid file written. */
async function startComponent(layout: StackLayout, c: StackComponent): Promise<number> {
  const log = logFile(layout, c.name);
  const fd = openSync(log, 'a');
  try {
    writeSync(
      fd,
      `\n--- visionbatch up: starting ${c.name} at ${new Date().toISOString()}: ${c.command} ${c.args.join(' ')}\n`,
    );
    const child = spawn(c.command, c.args, {
      cwd: c.cwd,
      env: c.env as NodeJS.ProcessEnv,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(new CliError(`cannot start ${c.name}: ${e.message}`, { cause: e })));
      child.once('spawn', () => resolve(child.pid as number));
    });
    child.unref();
    await writeFile(pidFile(layout, c.name), `${pid}\n`);
    return pid;
  } finally {
    closeSync(fd);
  }
}

/** Options of {@link upComponents}. */
export interface UpOptions {
  /** Readiness deadline for all components. @default 60_000 */
  timeoutMs?: number;
  log?: (line: string) => void;
}

/** Per component: started now or found running. */
export interface UpResult {
  started: string[];
  alreadyRunning: string[];
}

/**
 * Starts the components in order; a component whose pid file names a live process of ours is left
 * alone (so `up` is idempotent and restarts only what is missing). A component with `gate` set
 * (Redis) must be ready before the next ones start. Waits until every component is ready; on a
 * failure prints the tail of the failing log, stops what this call started, and throws.
 */
export async function upComponents(
  layout: StackLayout,
  components: readonly (StackComponent & { gate?: boolean })[],
  o: UpOptions = {},
): Promise<UpResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  await mkdir(layout.logsDir, { recursive: true });
  await mkdir(layout.runDir, { recursive: true });
  const result: UpResult = { started: [], alreadyRunning: [] };
  const pids = new Map<string, number>();

  const waitReady = async (cs: readonly StackComponent[]) => {
    const pending = new Set(cs);
    while (pending.size) {
      for (const c of [...pending]) {
        const pid = pids.get(c.name);
        if (pid !== undefined && !(await isOurProcess(pid, c.cmdlineMarker))) {
          throw Object.assign(new CliError(`${c.name} exited during start-up`), { component: c });
        }
        if (await c.probe()) pending.delete(c);
      }
      if (!pending.size) return;
      if (Date.now() > deadline) {
        const c = [...pending][0];
        throw Object.assign(
          new CliError(`${c.name} not ready after ${o.timeoutMs ?? 60_000} ms (${c.probeLabel})`),
          { component: c },
        );
      }
      await sleep(250);
    }
  };

  try {
    let batch: StackComponent[] = [];
    for (const c of components) {
      const existing = await readPid(pidFile(layout, c.name));
      if (existing !== null && (await isOurProcess(existing, c.cmdlineMarker))) {
        pids.set(c.name, existing);
        result.alreadyRunning.push(c.name);
        log(`${c.name} already running (pid ${existing})`);
      } else {
        if (existing !== null) await rm(pidFile(layout, c.name), { force: true });
        // A process that just died may hold its port for a moment while the kernel tears it down.
        if (c.port > 0 && !(await waitGone(() => portInUse(c.port), 3000))) {
          throw new CliError(
            `cannot start ${c.name}: port ${c.port} is already in use by a process this data dir did not start (${layout.dataDir}); stop it or change the port`,
          );
        }
        const pid = await startComponent(layout, c);
        pids.set(c.name, pid);
        result.started.push(c.name);
        log(`started ${c.name} (pid ${pid}), log ${logFile(layout, c.name)}`);
      }
      batch.push(c);
      if (c.gate) {
        await waitReady(batch);
        batch = [];
      }
    }
    await waitReady(batch);
    return result;
  } catch (e) {
    const c = (e as { component?: StackComponent }).component;
    if (c) {
      const tail = await tailFile(logFile(layout, c.name));
      log(`--- last lines of ${logFile(layout, c.name)} ---\n${tail || '(empty)'}\n---`);
    }
    if (result.started.length) {
      log(`stopping what this run started: ${result.started.join(', ')}`);
      await downComponents(
        layout,
        components.filter((x) => result.started.includes(x.name)),
        { log: () => {} },
      );
    }
    throw e;
  }
}

/** Options of {@link downComponents}. */
export interface DownOptions {
  /** Grace period after SIGTERM before SIGKILL. @default 15_000 */
  graceMs?: number;
  log?: (line: string) => void;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {}
}

async function waitGone(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!(await check())) return true;
    await sleep(100);
  }
  return !(await check());
}

/**
 * Stops one component by its pid file: SIGTERM, up to `graceMs` for it to exit, then SIGKILL;
 * then whatever is left of its process group (children it spawned) gets the same treatment.
 * A pid file naming a dead or foreign process is only removed. Returns what happened.
 */
export async function stopComponent(
  layout: StackLayout,
  c: Pick<StackComponent, 'name' | 'cmdlineMarker'>,
  graceMs = 15_000,
): Promise<'stopped' | 'killed' | 'not-running'> {
  const file = pidFile(layout, c.name);
  const pid = await readPid(file);
  if (pid === null) return 'not-running';
  if (!(await isOurProcess(pid, c.cmdlineMarker))) {
    await rm(file, { force: true });
    return 'not-running';
  }
  killQuietly(pid, 'SIGTERM');
  let outcome: 'stopped' | 'killed' = 'stopped';
  if (!(await waitGone(() => isOurProcess(pid, c.cmdlineMarker), graceMs))) {
    killQuietly(-pid, 'SIGKILL');
    killQuietly(pid, 'SIGKILL');
    await waitGone(() => isOurProcess(pid, c.cmdlineMarker), 5000);
    outcome = 'killed';
  }
  // The group id is the pid we started; while any member lives, Linux does not hand that id to a
  // new process, so signalling the group reaches only our descendants (e.g. worker slot processes).
  if (await groupAlive(pid)) {
    killQuietly(-pid, 'SIGTERM');
    if (!(await waitGone(() => groupAlive(pid), 2000))) killQuietly(-pid, 'SIGKILL');
  }
  await rm(file, { force: true });
  return outcome;
}

/** Stops components in the given order (callers put Redis last). */
export async function downComponents(
  layout: StackLayout,
  components: readonly Pick<StackComponent, 'name' | 'cmdlineMarker'>[],
  o: DownOptions = {},
): Promise<void> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  for (const c of components) {
    const outcome = await stopComponent(layout, c, o.graceMs);
    log(`${c.name}: ${outcome === 'not-running' ? 'not running' : outcome}`);
  }
}

/** One row of `status`. */
export interface ComponentStatus {
  name: string;
  pid: number | null;
  running: boolean;
  ready: boolean;
  log: string;
}

export async function statusComponents(
  layout: StackLayout,
  components: readonly StackComponent[],
): Promise<ComponentStatus[]> {
  const out: ComponentStatus[] = [];
  for (const c of components) {
    const pid = await readPid(pidFile(layout, c.name));
    const running = pid !== null && (await isOurProcess(pid, c.cmdlineMarker));
    out.push({
      name: c.name,
      pid,
      running,
      ready: running && (await c.probe()),
      log: logFile(layout, c.name),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The real local stack: Redis (unless VB_REDIS_URL is set), api, scheduler, worker.

/**
 * tsx's ESM loader as an absolute URL for `node --import`, so the services start the same way
 * whatever the working directory (a bare `--import tsx` resolves from the cwd).
 */
export function tsxLoaderUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}

/** The services `up` starts, in start order. */
export const SERVICES = ['api', 'scheduler', 'worker'] as const;

/** Everything `up`, `down` and `status` need to know about the local stack. */
export interface LocalStack {
  config: Config;
  layout: StackLayout;
  /** Redis the services use (own: on VB_REDIS_PORT with the password of the data dir). */
  redis: RedisConnectionConfig;
  /** Whether `up` runs its own Redis (false when VB_REDIS_URL is set). */
  ownRedis: boolean;
  components: (StackComponent & { gate?: boolean })[];
  apiUrl: string;
  apiKey: string;
  workspace: string;
}

/** Where `up` notes the autoscaler it started the stack with, so that `status` and `down` agree. */
const autoscalerFile = (l: StackLayout) => path.join(l.runDir, 'autoscaler');

/**
 * VB_AUTOSCALER of the environment, else the one the running stack was started with (`up
 * --autoscale local` writes it next to the pid files).
 */
function withAutoscaler(env: Env): Env {
  if (env.VB_AUTOSCALER?.trim()) return env;
  try {
    const layout = stackLayout(loadConfig(env).dataDir);
    const noted = readFileSync(autoscalerFile(layout), 'utf8').trim();
    return noted ? { ...env, VB_AUTOSCALER: noted } : env;
  } catch {
    return env;
  }
}

/**
 * Builds the local stack description from the environment (`loadConfig`) and the repository layout.
 * With `VB_AUTOSCALER=local` there is no worker component: the scheduler starts and stops the worker
 * machines itself (as its child processes, so `down` stops them with it).
 */
export function localStack(env: Env = process.env, root = repoRoot()): LocalStack {
  const config = loadConfig(env);
  const layout = stackLayout(config.dataDir);
  const ownRedis = !env.VB_REDIS_URL?.trim();
  const redisDir = path.join(config.dataDir, 'redis');
  const auth = ownRedis ? redisAuthConf(redisDir) : null;
  const redis: RedisConnectionConfig = auth
    ? {
        ...config.redis,
        url: `redis://127.0.0.1:${config.redisPort}`,
        password: auth.password,
        sentinels: [],
      }
    : config.redis;
  const childEnv: Env = {
    ...env,
    VB_DATA_DIR: config.dataDir,
    VB_REDIS_URL: redis.url,
    ...(auth ? { VB_REDIS_PASSWORD: auth.password } : {}),
  };
  const services = SERVICES.filter((s) => s !== 'worker' || config.autoscaler.actuator !== 'local');
  const components: (StackComponent & { gate?: boolean })[] = [];
  if (auth) {
    components.push({
      name: 'redis',
      command: 'redis-server',
      args: redisServerArgs(config.redisPort, redisDir, [], auth.file),
      cwd: root,
      env: childEnv,
      cmdlineMarker: 'redis-server',
      port: config.redisPort,
      probeLabel: `PING ${redis.url}`,
      probe: () => redisReady(redis),
      gate: true,
    });
  }
  const ports: Record<(typeof SERVICES)[number], number> = {
    api: config.api.port,
    scheduler: config.scheduler.httpPort,
    worker: config.worker.httpPort,
  };
  const loader = tsxLoaderUrl();
  for (const name of services) {
    const main = path.join(root, 'services', name, 'src', 'main.ts');
    const port = ports[name];
    const url = `http://127.0.0.1:${port}/readyz`;
    components.push({
      name,
      command: process.execPath,
      args: ['--import', loader, main],
      cwd: root,
      env: childEnv,
      cmdlineMarker: main,
      port,
      probeLabel: port > 0 ? `GET ${url}` : 'process alive',
      // A worker on port 0 (any free port) cannot be probed: alive counts as ready.
      probe: port > 0 ? () => httpReady(url) : async () => true,
    });
  }
  const [apiKey, workspace] = [...config.api.keys.entries()][0] ?? ['vb_dev_key', 'demo'];
  const prefix = config.api.mountPrefix;
  const apiUrl =
    prefix && !config.api.publicUrl.endsWith(prefix) ? config.api.publicUrl + prefix : config.api.publicUrl;
  return { config, layout, redis, ownRedis, components, apiUrl, apiKey, workspace };
}

/**
 * `visionbatch up`: starts Redis (own, unless VB_REDIS_URL is set) and the api, scheduler and worker
 * as detached processes with logs in `<dataDir>/logs/<name>.log` and pid files in
 * `<dataDir>/run/<name>.pid`; returns when all are ready. Components already running from the same
 * data dir are kept; only missing ones start.
 */
export async function stackUp(
  o: {
    env?: Env;
    root?: string;
    timeoutMs?: number;
    log?: (line: string) => void;
    print?: (line: string) => void;
  } = {},
): Promise<LocalStack & UpResult> {
  const stack = localStack(withAutoscaler(o.env ?? process.env), o.root);
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const print = o.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const autoscaler = stack.config.autoscaler;
  if (autoscaler.actuator === 'local') {
    await mkdir(stack.layout.runDir, { recursive: true });
    await writeFile(autoscalerFile(stack.layout), 'local\n');
  } else {
    await rm(autoscalerFile(stack.layout), { force: true });
  }
  if (stack.ownRedis) {
    if (!(await findOnPath('redis-server', o.env ?? process.env))) {
      throw new CliError('redis-server not found: install it with "sudo apt-get install -y redis-server"');
    }
    await mkdir(path.join(stack.config.dataDir, 'redis'), { recursive: true });
  } else if (!(await redisReady(stack.redis))) {
    throw new CliError(
      `VB_REDIS_URL is set but Redis at ${redactRedisUrl(stack.redis.url)} does not answer PING`,
    );
  }
  const res = await upComponents(stack.layout, stack.components, { timeoutMs: o.timeoutMs, log });
  print(res.started.length ? 'visionbatch is up.' : 'visionbatch was already running.');
  print(`  API:       ${stack.apiUrl}`);
  print(`  API key:   ${stack.apiKey} (workspace ${stack.workspace})`);
  print(
    `  Redis:     ${redactRedisUrl(stack.redis.url)}${stack.ownRedis ? ` (password in ${path.join(stack.config.dataDir, 'redis', 'auth.conf')})` : ' (external)'}`,
  );
  print(`  Data dir:  ${stack.config.dataDir} (logs in ${stack.layout.logsDir})`);
  if (autoscaler.actuator === 'local')
    print(
      `  Workers:   started by the scheduler on demand (cpu ${autoscaler.pools.cpu.min}..${autoscaler.pools.cpu.max}, gpu ${autoscaler.pools.gpu.min}..${autoscaler.pools.gpu.max} machines; logs in scheduler.log)`,
    );
  return { ...stack, ...res };
}

/** `visionbatch down`: stops what `up` started from this data dir (services first, Redis last). */
export async function stackDown(
  o: { env?: Env; root?: string; graceMs?: number; log?: (line: string) => void } = {},
): Promise<void> {
  const stack = localStack(withAutoscaler(o.env ?? process.env), o.root);
  const services = stack.components.filter((c) => c.name !== 'redis');
  // Redis is stopped even when VB_REDIS_URL is set now, if a pid file says an earlier `up` started it.
  const redis = { name: 'redis', cmdlineMarker: 'redis-server' };
  await downComponents(stack.layout, [...services, redis], {
    graceMs: o.graceMs,
    log: o.log ?? ((l) => process.stdout.write(`${l}\n`)),
  });
  await rm(autoscalerFile(stack.layout), { force: true });
}

/** `visionbatch status`: which processes are alive and ready. Returns true when all are. */
export async function stackStatus(
  o: { env?: Env; root?: string; print?: (line: string) => void } = {},
): Promise<boolean> {
  const stack = localStack(withAutoscaler(o.env ?? process.env), o.root);
  const print = o.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const rows = await statusComponents(stack.layout, stack.components);
  print(
    table(
      ['NAME', 'PID', 'STATE', 'LOG'],
      rows.map((r) => [
        r.name,
        r.pid === null ? '-' : String(r.pid),
        r.running ? (r.ready ? 'ready' : 'running, not ready') : 'stopped',
        r.log,
      ]),
    ),
  );
  print(`API: ${stack.apiUrl}  data dir: ${stack.config.dataDir}`);
  return rows.every((r) => r.running && r.ready);
}
