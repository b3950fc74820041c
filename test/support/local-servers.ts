/**
 * Fallback when no container runtime is available: redis-server and s3rver as child processes of the
 * vitest main process, on free ports of 127.0.0.1, with their data in temp folders.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { redisAuthConf, redisServerArgs } from '@visionbatch/cli/stack';
import { freePort, tempDir, waitFor } from './basics.ts';
import { type StartedServers, TEST_REDIS_DATABASES, type TestRedisInfo, type TestS3Info } from './context.ts';
import { httpAnswers, redisPing } from './probes.ts';

/** s3rver accepts any secret for a known key id; S3RVER/S3RVER is its built-in account. */
const S3RVER_CREDENTIALS = { accessKey: 'S3RVER', secretKey: 'S3RVER' };

/** Attempts per server: a port picked by `freePort()` can be taken by someone else before we bind it. */
const START_ATTEMPTS = 3;

interface ChildServer {
  stop(): Promise<void>;
}

interface SpawnSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Where the process keeps its data and log; removed on stop. */
  dir: string;
  /** Told to the user when the command does not exist. */
  missingHint: string;
  ready: () => Promise<boolean>;
  timeoutMs: number;
}

class StartFailure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

async function logTail(logPath: string): Promise<string> {
  try {
    const text = await readFile(logPath, 'utf8');
    return text.split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Spawns one server, waits until `ready()`, and returns how to stop it (SIGTERM, then SIGKILL). */
async function spawnServer(spec: SpawnSpec): Promise<ChildServer> {
  const logPath = path.join(spec.dir, `${spec.name}.log`);
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, { stdio: ['ignore', logFd, logFd], env: spec.env ?? process.env });
  } finally {
    closeSync(logFd); // the child has its own copy
  }
  // Safety net: if vitest's process exits without running the teardown (a crash, a closed stdout pipe),
  // don't leave the server or its data behind. Only synchronous work is possible in an exit handler.
  const killOnExit = () => {
    child.kill('SIGKILL');
    rmSync(spec.dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5000);
      }
    }
  };

  const died = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new StartFailure(
          err.code === 'ENOENT'
            ? `Cannot start ${spec.name}: \`${spec.command}\` was not found. ${spec.missingHint}`
            : `Cannot start ${spec.name}: ${err.message}`,
          false,
        ),
      );
    });
    child.once('exit', async (code, signal) => {
      const tail = await logTail(logPath);
      reject(
        new StartFailure(
          `${spec.name} exited during start-up (code ${code}, signal ${signal}). Log tail:\n${tail}`,
          /address already in use|EADDRINUSE/i.test(tail),
        ),
      );
    });
  });
  died.catch(() => {}); // only observed through the race below
  try {
    await Promise.race([
      died,
      waitFor(spec.ready, { timeoutMs: spec.timeoutMs, intervalMs: 100, message: `${spec.name} to answer` }),
    ]);
    return { stop };
  } catch (err) {
    await stop();
    if (err instanceof StartFailure) throw err;
    throw new StartFailure(
      `${(err as Error).message}. ${spec.name} log tail:\n${await logTail(logPath)}`,
      false,
    );
  }
}

/** Runs `start` with a fresh port until it binds, up to {@link START_ATTEMPTS} times. */
async function withFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (!(err instanceof StartFailure && err.retryable) || attempt >= START_ATTEMPTS) throw err;
    }
  }
}

async function startRedis(): Promise<{ info: TestRedisInfo; stop: () => Promise<void> }> {
  const dir = await tempDir('vb-test-redis-');
  try {
    // A password, as in production: every client of the suite must pass it.
    const auth = redisAuthConf(dir);
    return await withFreePort(async (port) => {
      const server = await spawnServer({
        name: 'redis-server',
        command: 'redis-server',
        // Same durability and eviction settings as production (AOF, noeviction); no RDB snapshots.
        args: redisServerArgs(port, dir, ['--databases', String(TEST_REDIS_DATABASES)], auth.file),
        dir,
        missingHint:
          'Install it with `apt-get install -y redis-server` (Debian/Ubuntu), or make a Docker engine available so testcontainers can run redis:7-alpine.',
        ready: () => redisPing('127.0.0.1', port, auth.password),
        timeoutMs: 15_000,
      });
      const info: TestRedisInfo = {
        url: `redis://:${auth.password}@127.0.0.1:${port}`,
        host: '127.0.0.1',
        port,
        password: auth.password,
        databases: TEST_REDIS_DATABASES,
        flavour: 'local',
      };
      return {
        info,
        stop: async () => {
          await server.stop();
          await rm(dir, { recursive: true, force: true });
        },
      };
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function s3rverBin(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve('s3rver/package.json');
    return path.join(path.dirname(pkg), 'bin', 's3rver.js');
  } catch (err) {
    throw new Error(
      'Cannot start s3rver: the package is not installed. Run `npm install` (it is a root devDependency).',
      {
        cause: err,
      },
    );
  }
}

async function startS3rver(): Promise<{ info: TestS3Info; stop: () => Promise<void> }> {
  const bin = s3rverBin();
  const dir = await tempDir('vb-test-s3-');
  try {
    return await withFreePort(async (port) => {
      const endPoint = `http://127.0.0.1:${port}`;
      const server = await spawnServer({
        name: 's3rver',
        command: process.execPath,
        args: [bin, '-d', path.join(dir, 'data'), '-a', '127.0.0.1', '-p', String(port)],
        // s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only offers through
        // its legacy provider (without it, listings past 1,000 keys fail with HTTP 500).
        env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
        dir,
        missingHint: 'Run `npm install`.',
        ready: () => httpAnswers(`${endPoint}/`),
        timeoutMs: 30_000,
      });
      const info: TestS3Info = { endPoint, ...S3RVER_CREDENTIALS, region: 'us-east-1', flavour: 's3rver' };
      return {
        info,
        stop: async () => {
          await server.stop();
          await rm(dir, { recursive: true, force: true });
        },
      };
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Starts redis-server and s3rver side by side. */
export async function startLocalServers(): Promise<StartedServers> {
  const [redis, s3] = await Promise.allSettled([startRedis(), startS3rver()]);
  if (redis.status === 'rejected' || s3.status === 'rejected') {
    await Promise.all([redis, s3].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    const reasons = [redis, s3].flatMap((r) =>
      r.status === 'rejected' ? [String((r.reason as Error).message)] : [],
    );
    throw new Error(`Test servers failed to start:\n- ${reasons.join('\n- ')}`);
  }
  return {
    redis: redis.value.info,
    s3: s3.value.info,
    stop: async () => {
      await Promise.all([redis.value.stop(), s3.value.stop()]);
    },
  };
}
