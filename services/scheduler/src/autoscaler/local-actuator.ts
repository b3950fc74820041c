import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Logger } from '@visionbatch/shared/logger';
import type { Actuator, Pool, ScaleRequest } from './actuator.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** How the local actuator starts machines. */
export interface LocalActuatorOptions {
  /** Environment of every machine (the scheduler's own); pool, id, ports and scheduler URL are set on top. */
  env: NodeJS.ProcessEnv;
  /** host:port where the machines reach this scheduler's gRPC server */
  schedulerUrl: string;
  logger: Logger;
  /** @default services/worker/src/main.ts */
  workerMain?: string;
  /** How long a machine may drain at shutdown before it is killed. @default 20_000 */
  stopGraceMs?: number;
  /** Prefix of machine ids. @default `local-<scheduler pid>` */
  idPrefix?: string;
}

interface LocalMachine {
  id: string;
  child: ChildProcess;
  startedAt: number;
  /** SIGTERM sent: draining, no longer counted in the pool's size */
  stopping: boolean;
}

/** A crash within this long of the start counts towards the spawn back-off (e.g. no GPU for a gpu pool). */
const EARLY_EXIT_MS = 30_000;

/**
 * Worker machines as child processes of the scheduler, for a single computer (`visionbatch up
 * --autoscale local`, tests, the load test). Each machine is `services/worker/src/main.ts` with its
 * own id and any free HTTP port; its logs go to the scheduler's stdout/stderr (JSON lines carrying
 * `machineId`). A scale-down sends SIGTERM only to machines the scheduler sees holding no lease; a
 * worker drains on SIGTERM anyway (finishes its running tasks, releases its lease), so a machine that
 * took a lease in between still loses no work. Children have an IPC channel, so they also drain
 * and exit when the scheduler dies without stopping them.
 */
export class LocalActuator implements Actuator {
  readonly kind = 'local';
  private readonly machines = new Map<Pool, Map<string, LocalMachine>>([
    ['cpu', new Map()],
    ['gpu', new Map()],
  ]);
  private readonly backoff = new Map<Pool, { failures: number; until: number }>();
  private seq = 0;
  private closed = false;
  private readonly loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

  constructor(private readonly o: LocalActuatorOptions) {}

  async size(pool: Pool): Promise<number> {
    return [...this.pool(pool).values()].filter((m) => !m.stopping).length;
  }

  /** Ids of the machines running now (draining ones included). */
  running(pool: Pool): string[] {
    return [...this.pool(pool).keys()];
  }

  async scaleTo(pool: Pool, req: ScaleRequest): Promise<void> {
    if (this.closed) return;
    const members = [...this.pool(pool).values()].filter((m) => !m.stopping);
    if (req.desired > members.length) {
      const b = this.backoff.get(pool);
      if (b && Date.now() < b.until) return;
      for (let i = members.length; i < req.desired; i++) this.start(pool);
      return;
    }
    if (req.desired < members.length) {
      const idle = new Set(req.idleMachines);
      const removable = members.filter((m) => idle.has(m.id));
      for (const m of removable.slice(0, members.length - req.desired)) this.stop(pool, m, 'scale-down');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.machines.entries()].flatMap(([pool, ms]) =>
      [...ms.values()].map((m) => ({ pool, m })),
    );
    for (const { pool, m } of all) if (!m.stopping) this.stop(pool, m, 'scheduler shutdown');
    const grace = this.o.stopGraceMs ?? 20_000;
    await Promise.all(
      all.map(
        ({ m }) =>
          new Promise<void>((resolve) => {
            if (m.child.exitCode !== null || m.child.signalCode !== null) return resolve();
            const timer = setTimeout(() => {
              this.o.logger.warn({ machineId: m.id }, 'local machine did not drain in time: killing it');
              m.child.kill('SIGKILL');
            }, grace);
            m.child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }

  private pool(pool: Pool): Map<string, LocalMachine> {
    return this.machines.get(pool) as Map<string, LocalMachine>;
  }

  private start(pool: Pool): void {
    const id = `${this.o.idPrefix ?? `local-${process.pid}`}-${pool}-${++this.seq}`;
    const main = this.o.workerMain ?? path.join(ROOT, 'services', 'worker', 'src', 'main.ts');
    const child = spawn(process.execPath, ['--import', this.loader, main], {
      cwd: ROOT,
      env: {
        ...this.o.env,
        VB_WORKER_POOL: pool,
        VB_WORKER_ID: id,
        VB_WORKER_HTTP_PORT: '0',
        VB_SCHEDULER_URL: this.o.schedulerUrl,
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const m: LocalMachine = { id, child, startedAt: Date.now(), stopping: false };
    this.pool(pool).set(id, m);
    this.o.logger.info({ machineId: id, pool, pid: child.pid }, 'local machine started');
    child.on('error', (err) =>
      this.o.logger.error({ machineId: id, err: err.message }, 'local machine error'),
    );
    child.once('exit', (code, signal) => {
      this.pool(pool).delete(id);
      const early = !m.stopping && Date.now() - m.startedAt < EARLY_EXIT_MS;
      if (early || (!m.stopping && code !== 0)) {
        // Back off before starting this pool's machines again: a machine that cannot start (a gpu pool
        // without a GPU, a broken install) must not become a spawn loop.
        const failures = (this.backoff.get(pool)?.failures ?? 0) + 1;
        const waitMs = Math.min(60_000, 1000 * 2 ** (failures - 1));
        this.backoff.set(pool, { failures, until: Date.now() + waitMs });
        this.o.logger.error(
          { machineId: id, pool, code, signal, failures, retryInMs: waitMs },
          'local machine exited unexpectedly',
        );
      } else {
        if (Date.now() - m.startedAt >= EARLY_EXIT_MS) this.backoff.delete(pool);
        this.o.logger.info({ machineId: id, pool, code, signal }, 'local machine exited');
      }
    });
  }

  private stop(pool: Pool, m: LocalMachine, reason: string): void {
    m.stopping = true;
    this.o.logger.info({ machineId: m.id, pool, reason }, 'stopping local machine (it drains first)');
    m.child.kill('SIGTERM');
  }
}
