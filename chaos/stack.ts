/**
 * The processes of a chaos run, each under a fixed name, port and log file so that it can be
 * killed and started again as the same member of the stack: a redis-server (AOF, fsync always), the
 * api, scheduler replicas and worker machines (real processes through tsx).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisServerArgs } from '@visionbatch/cli/stack';
import { Redis } from 'ioredis';
import { waitFor } from '../test/support/basics.ts';
import type { FaultAction, ProcessKind } from './schedule.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface ProcessSpec {
  name: string;
  kind: ProcessKind;
  /** redis: its port; services: the HTTP port of /readyz */
  port: number;
  /** services only: the environment on top of the stack's */
  env?: Record<string, string>;
}

interface Member extends ProcessSpec {
  child: ChildProcess | null;
}

/** A stack of named processes that a chaos schedule kills and restarts. */
export class ChaosStack {
  private readonly members = new Map<string, Member>();

  constructor(
    /** environment of every service process */
    readonly env: Record<string, string>,
    private readonly logsDir: string,
    private readonly redisDir: string,
  ) {
    mkdirSync(logsDir, { recursive: true });
    mkdirSync(redisDir, { recursive: true });
  }

  add(spec: ProcessSpec): void {
    this.members.set(spec.name, { ...spec, child: null });
  }

  names(): string[] {
    return [...this.members.keys()];
  }

  targets(): Array<{ name: string; kind: ProcessKind }> {
    return [...this.members.values()].map(({ name, kind }) => ({ name, kind }));
  }

  isUp(name: string): boolean {
    const c = this.member(name).child;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  private member(name: string): Member {
    const m = this.members.get(name);
    if (!m) throw new Error(`no process named ${name} in the chaos stack`);
    return m;
  }

  /** Starts a process (no-op when it runs); with `ready`, resolves once it answers. */
  async start(name: string, ready = false, timeoutMs = 60_000): Promise<void> {
    const m = this.member(name);
    if (!this.isUp(name)) {
      const log = openSync(path.join(this.logsDir, `${name}.log`), 'a');
      m.child =
        m.kind === 'redis'
          ? spawn('redis-server', redisServerArgs(m.port, this.redisDir, ['--appendfsync', 'always']), {
              stdio: ['ignore', log, log],
            })
          : spawn(
              process.execPath,
              ['--import', 'tsx', path.join(ROOT, 'services', m.kind, 'src', 'main.ts')],
              { cwd: ROOT, env: { ...process.env, ...this.env, ...m.env }, stdio: ['ignore', log, log] },
            );
      closeSync(log);
    }
    if (ready) await waitFor(() => this.answers(m), { timeoutMs, intervalMs: 100, message: `${name} ready` });
  }

  /** Whether a member serves: Redis answers PING (not LOADING), a service's /readyz answers 200. */
  private async answers(m: Member): Promise<boolean> {
    if (!this.isUp(m.name)) throw new Error(`${m.name} is not running`);
    if (m.kind !== 'redis') {
      const r = await fetch(`http://127.0.0.1:${m.port}/readyz`, { signal: AbortSignal.timeout(2000) });
      return r.status === 200;
    }
    const c = new Redis(m.port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    c.on('error', () => {});
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } finally {
      c.disconnect();
    }
  }

  /**
   * Stops a process the way a fault does: SIGKILL, or (Redis) SHUTDOWN, which writes the AOF and
   * exits. Resolves once it has exited.
   */
  async stop(name: string, action: FaultAction): Promise<void> {
    const m = this.member(name);
    const child = m.child;
    if (!child || !this.isUp(name)) return;
    const exited = new Promise((r) => child.once('exit', r));
    if (action === 'shutdown' && m.kind === 'redis') {
      const c = new Redis(m.port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => {});
      // The connection drops as Redis exits, so the reply never comes: do not wait for it.
      c.call('SHUTDOWN').catch(() => {});
      const shut = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      c.disconnect();
      if (!shut) child.kill('SIGKILL');
    } else {
      child.kill(action === 'shutdown' ? 'SIGTERM' : 'SIGKILL');
    }
    await exited;
  }

  /** Starts every member that is down and waits until all of them answer. */
  async ensureAllUp(timeoutMs = 120_000): Promise<void> {
    const redis = [...this.members.values()].filter((m) => m.kind === 'redis');
    for (const m of redis) await this.start(m.name, true, timeoutMs);
    await Promise.all(
      [...this.members.values()]
        .filter((m) => m.kind !== 'redis')
        .map((m) => this.start(m.name, true, timeoutMs)),
    );
  }

  /** Stops everything: services with SIGTERM (they drain), Redis last. */
  async stopAll(): Promise<void> {
    const services = [...this.members.values()].filter((m) => m.kind !== 'redis');
    await Promise.all(
      services.map(async (m) => {
        const child = m.child;
        if (!child || !this.isUp(m.name)) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        if (!(await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)])))
          child.kill('SIGKILL');
      }),
    );
    for (const m of this.members.values()) if (m.kind === 'redis') await this.stop(m.name, 'shutdown');
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
