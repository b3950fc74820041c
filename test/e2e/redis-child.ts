/**
 * A dedicated `redis-server --appendonly yes` child on a fixed port and dir, so a test may stop and
 * restart it. It requires a password (as production Redis does) and, with `tls`, speaks only TLS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { redisAuthConf, redisServerArgs } from '@visionbatch/cli/stack';
import { createRedis, redisConnection } from '@visionbatch/shared/redis';
import { freePort, waitFor } from '../support/helpers.ts';
import type { TlsFiles } from '../support/tls-cert.ts';

export class RedisChild {
  private child: ChildProcess | null = null;
  readonly password: string;
  private readonly authConf: string;
  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly tls: TlsFiles | null,
  ) {
    const auth = redisAuthConf(dir);
    this.password = auth.password;
    this.authConf = auth.file;
  }

  static async start(dir: string, opts: { tls?: TlsFiles } = {}): Promise<RedisChild> {
    const r = new RedisChild(await freePort(), dir, opts.tls ?? null);
    await r.start();
    return r;
  }

  /** `redis://:<password>@127.0.0.1:<port>/0`, or `rediss://` with TLS (the CA is in `tls.ca`). */
  get url(): string {
    return `${this.tls ? 'rediss' : 'redis'}://:${this.password}@127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    const tlsArgs = this.tls
      ? [
          ...['--port', '0', '--tls-port', String(this.port)],
          ...['--tls-cert-file', this.tls.cert, '--tls-key-file', this.tls.key],
          ...['--tls-ca-cert-file', this.tls.ca, '--tls-auth-clients', 'no'],
        ]
      : [];
    const child = spawn(
      'redis-server',
      redisServerArgs(this.port, this.dir, ['--appendfsync', 'always', ...tlsArgs], this.authConf),
      { stdio: 'ignore' },
    );
    this.child = child;
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        const c = createRedis(
          { ...redisConnection(this.url), tlsCaFile: this.tls?.ca ?? null },
          { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null },
        );
        c.on('error', () => {});
        try {
          await c.connect();
          return (await c.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          c.disconnect();
        }
      },
      { timeoutMs: 15_000, intervalMs: 100, message: 'redis-server ready' },
    );
  }

  /** Stops it: SIGKILL (a crash; AOF with fsync always keeps every write) or SIGTERM (clean). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
    this.child = null;
  }
}
