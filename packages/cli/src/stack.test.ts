import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../../../test/support/basics.ts';
import {
  findOnPath,
  httpReady,
  isOurProcess,
  localStack,
  portInUse,
  stackDown,
  stackStatus,
  stackUp,
} from './stack.ts';

/**
 * A stand-in for a service's main.ts: AUTHs and PINGs Redis over a raw socket, then serves /readyz
 * on its port; prints its environment; can crash at start, ignore SIGTERM, or leave a child process.
 */
const FAKE_SERVICE = `
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
const name = process.argv[1].split('/').at(-3);
const portVar = { api: 'VB_API_PORT', scheduler: 'VB_SCHEDULER_HTTP_PORT', worker: 'VB_WORKER_HTTP_PORT' }[name];
console.log('fake', name, 'VB_DATA_DIR=' + process.env.VB_DATA_DIR, 'VB_REDIS_URL=' + process.env.VB_REDIS_URL);
if (process.env.FAKE_CRASH === name) { console.error('fake crash of ' + name); process.exit(3); }
if (process.env.FAKE_IGNORE_TERM === name) process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
if (process.env.FAKE_CHILD === name) {
  const c = spawn('sleep', ['300'], { stdio: 'ignore' });
  console.log('child pid ' + c.pid);
}
const u = new URL(process.env.VB_REDIS_URL);
const s = net.connect(Number(u.port), u.hostname, () =>
  s.write('AUTH ' + process.env.VB_REDIS_PASSWORD + '\\r\\nPING\\r\\n'));
let reply = '';
s.on('data', (d) => {
  reply += String(d);
  if (!reply.includes('+PONG') && !reply.startsWith('-')) return;
  if (reply !== '+OK\\r\\n+PONG\\r\\n') { console.error('redis said ' + reply); process.exit(4); }
  s.end();
  http.createServer((req, res) => { res.writeHead(req.url === '/readyz' ? 200 : 404); res.end('{}'); })
    .listen(Number(process.env[portVar]), '127.0.0.1');
});
s.on('error', (e) => { console.error(String(e)); process.exit(5); });
`;

/** The first reply line of a Redis server to `command`, over a raw socket. */
function rawRedis(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(command));
    sock.once('data', (d) => {
      sock.destroy();
      resolve(String(d));
    });
    sock.once('error', reject);
  });
}

const hasRedis = Boolean(spawnSync('redis-server', ['--version']).status === 0);

describe.skipIf(!hasRedis)('visionbatch up / down / status against fake services', () => {
  let root: string;
  let env: Record<string, string | undefined>;
  const lines: string[] = [];
  const quiet = { log: (l: string) => lines.push(l), print: (l: string) => lines.push(l) };

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'vb-stack-'));
    for (const name of ['api', 'scheduler', 'worker']) {
      await mkdir(path.join(root, 'services', name, 'src'), { recursive: true });
      await writeFile(path.join(root, 'services', name, 'src', 'main.ts'), FAKE_SERVICE);
    }
    env = {
      ...process.env,
      VB_REDIS_URL: undefined,
      VB_DATA_DIR: path.join(root, 'data'),
      VB_REDIS_PORT: String(await freePort()),
      VB_API_PORT: String(await freePort()),
      VB_SCHEDULER_HTTP_PORT: String(await freePort()),
      VB_WORKER_HTTP_PORT: String(await freePort()),
      VB_API_KEYS: 'secret_key:acme,other:ws2',
      FAKE_IGNORE_TERM: 'scheduler',
      FAKE_CHILD: 'worker',
    };
  });
  afterAll(async () => {
    await stackDown({ env, root, graceMs: 500, log: () => {} }).catch(() => {});
    await rm(root, { recursive: true, force: true });
  });

  const run = (name: string) => path.join(root, 'data', 'run', `${name}.pid`);
  const pidOf = async (name: string) => Number((await readFile(run(name), 'utf8')).trim());

  // First, so no live pid file of this suite can be clobbered by the stale one it writes.
  it('never signals a process a stale pid file names', async () => {
    await mkdir(path.join(root, 'data', 'run'), { recursive: true });
    await writeFile(run('api'), `${process.pid}\n`);
    const out: string[] = [];
    await stackDown({ env, root, log: (l) => out.push(l) });
    expect(out[0]).toBe('api: not running');
    await expect(readFile(run('api'))).rejects.toThrow();
  });

  it('starts Redis and the three services, passes them the data dir and Redis URL, and prints the key', async () => {
    const res = await stackUp({ env, root, timeoutMs: 30_000, ...quiet });
    expect(res.started).toEqual(['redis', 'api', 'scheduler', 'worker']);
    expect(res.apiKey).toBe('secret_key');
    expect(lines).toContain(`  API key:   secret_key (workspace acme)`);
    expect(lines).toContain(`  API:       http://127.0.0.1:${env.VB_API_PORT}`);
    expect(await httpReady(`http://127.0.0.1:${env.VB_API_PORT}/readyz`)).toBe(true);
    const apiLog = await readFile(path.join(root, 'data', 'logs', 'api.log'), 'utf8');
    expect(apiLog).toContain(
      `VB_DATA_DIR=${path.join(root, 'data')} VB_REDIS_URL=redis://127.0.0.1:${env.VB_REDIS_PORT}`,
    );
    for (const n of ['redis', 'api', 'scheduler', 'worker']) expect(await pidOf(n)).toBeGreaterThan(1);
    // its Redis refuses clients without the password of the data dir, which is printed nowhere
    expect(await rawRedis(Number(env.VB_REDIS_PORT), 'PING\r\n')).toMatch(/^-NOAUTH/);
    expect(lines.join('\n')).not.toContain(res.redis.password ?? 'no password');
    expect(lines).toContain(
      `  Redis:     redis://127.0.0.1:${env.VB_REDIS_PORT} (password in ${path.join(root, 'data', 'redis', 'auth.conf')})`,
    );
  });

  it('is idempotent and restarts only what is missing', async () => {
    const again = await stackUp({ env, root, ...quiet });
    expect(again.started).toEqual([]);
    expect(again.alreadyRunning).toEqual(['redis', 'api', 'scheduler', 'worker']);
    const workerPid = await pidOf('worker');
    // Kill the whole group, so the fake worker's child does not outlive the test.
    process.kill(-workerPid, 'SIGKILL');
    await waitFor(async () => !(await isOurProcess(workerPid, 'main.ts')), { message: 'worker gone' });
    await waitFor(async () => !(await portInUse(Number(env.VB_WORKER_HTTP_PORT))), {
      message: 'worker port free',
    });
    const third = await stackUp({ env, root, ...quiet });
    expect(third.started).toEqual(['worker']);
    expect(await pidOf('worker')).not.toBe(workerPid);
  });

  it('reports status', async () => {
    const out: string[] = [];
    expect(await stackStatus({ env, root, print: (l) => out.push(l) })).toBe(true);
    expect(out.join('\n')).toMatch(/worker\s+\d+\s+ready/);
  });

  it('stops exactly what it started, killing a process that ignores SIGTERM and its children', async () => {
    const pids = Object.fromEntries(
      await Promise.all(
        ['redis', 'api', 'scheduler', 'worker'].map(async (n) => [n, await pidOf(n)] as const),
      ),
    );
    const workerLog = await readFile(path.join(root, 'data', 'logs', 'worker.log'), 'utf8');
    const childPid = Number([...workerLog.matchAll(/child pid (\d+)/g)].at(-1)?.[1]);
    expect(childPid).toBeGreaterThan(1);
    const out: string[] = [];
    await stackDown({ env, root, graceMs: 1000, log: (l) => out.push(l) });
    expect(out).toEqual(['api: stopped', 'scheduler: killed', 'worker: stopped', 'redis: stopped']);
    for (const [n, pid] of Object.entries(pids)) {
      expect(await isOurProcess(pid, n === 'redis' ? 'redis-server' : 'main.ts')).toBe(false);
      await expect(readFile(run(n))).rejects.toThrow();
    }
    await waitFor(
      () =>
        !(() => {
          try {
            process.kill(childPid, 0);
            return true;
          } catch {
            return false;
          }
        })(),
      { message: 'grandchild gone' },
    );
    const again: string[] = [];
    await stackDown({ env, root, log: (l) => again.push(l) });
    expect(again).toEqual([
      'api: not running',
      'scheduler: not running',
      'worker: not running',
      'redis: not running',
    ]);
  });

  it('fails with the log tail when a service crashes, stopping what it started', async () => {
    const crashEnv = { ...env, FAKE_CRASH: 'scheduler' };
    const out: string[] = [];
    await expect(
      stackUp({ env: crashEnv, root, timeoutMs: 30_000, log: (l) => out.push(l), print: () => {} }),
    ).rejects.toThrow(/scheduler exited during start-up/);
    expect(out.join('\n')).toContain('fake crash of scheduler');
    for (const n of ['redis', 'api', 'scheduler', 'worker']) await expect(readFile(run(n))).rejects.toThrow();
  });

  it('refuses to start when a foreign process holds a port', async () => {
    const server = net.createServer().listen(Number(env.VB_API_PORT), '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      await expect(stackUp({ env, root, timeoutMs: 30_000, log: () => {}, print: () => {} })).rejects.toThrow(
        /port \d+ is already in use/,
      );
    } finally {
      server.close();
    }
    await expect(readFile(run('redis'))).rejects.toThrow();
  });
});

describe('localStack', () => {
  it('uses an external Redis when VB_REDIS_URL is set, and the default dev key', () => {
    const s = localStack({ VB_REDIS_URL: 'redis://10.0.0.1:6379', VB_DATA_DIR: '/tmp/x' }, '/repo');
    expect(s.ownRedis).toBe(false);
    expect(s.components.map((c) => c.name)).toEqual(['api', 'scheduler', 'worker']);
    expect(s.components[0].args.at(-1)).toBe('/repo/services/api/src/main.ts');
    expect(s.components[0].env.VB_REDIS_URL).toBe('redis://10.0.0.1:6379');
    expect(s.components[0].env.VB_REDIS_PASSWORD).toBeUndefined();
    expect([s.apiKey, s.workspace, s.apiUrl]).toEqual(['vb_dev_key', 'demo', 'http://127.0.0.1:8080']);
  });

  it('has no worker component with the local autoscaler: the scheduler starts the machines', () => {
    const s = localStack(
      { VB_REDIS_URL: 'redis://10.0.0.1:6379', VB_DATA_DIR: '/tmp/x', VB_AUTOSCALER: 'local' },
      '/repo',
    );
    expect(s.components.map((c) => c.name)).toEqual(['api', 'scheduler']);
    expect(s.components[1].env.VB_AUTOSCALER).toBe('local');
  });

  it('starts its own Redis with the documented arguments and a password kept in the data dir', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'vb-stack-args-'));
    try {
      const s = localStack({ VB_DATA_DIR: dir, VB_REDIS_PORT: '6399' }, '/repo');
      const redis = s.components[0];
      const conf = path.join(dir, 'redis', 'auth.conf');
      expect(redis.command).toBe('redis-server');
      expect(redis.args).toEqual([
        conf,
        '--port',
        '6399',
        '--bind',
        '127.0.0.1',
        '--dir',
        path.join(dir, 'redis'),
        '--appendonly',
        'yes',
        '--maxmemory-policy',
        'noeviction',
        '--save',
        '',
        '--daemonize',
        'no',
      ]);
      expect(s.redis.url).toBe('redis://127.0.0.1:6399');
      // the password is in the config file (owner-only), not on the command line, and the services get it
      const password = s.redis.password ?? '';
      expect(password).toMatch(/^[0-9a-f]{48}$/);
      expect(await readFile(conf, 'utf8')).toBe(`requirepass "${password}"\n`);
      expect((await stat(conf)).mode & 0o777).toBe(0o600);
      expect(redis.args.join(' ')).not.toContain(password);
      expect(s.components[1].env.VB_REDIS_PASSWORD).toBe(password);
      // one password per data dir: the next run reads the same one back
      expect(localStack({ VB_DATA_DIR: dir, VB_REDIS_PORT: '6399' }, '/repo').redis.password).toBe(password);
      const other = await mkdtemp(path.join(os.tmpdir(), 'vb-stack-args-'));
      expect(localStack({ VB_DATA_DIR: other }, '/repo').redis.password).not.toBe(password);
      await rm(other, { recursive: true, force: true });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('asks for redis-server when it is not on PATH', async () => {
    await expect(
      stackUp({
        env: { PATH: '/nonexistent', VB_DATA_DIR: os.tmpdir() },
        root: '/repo',
        log: () => {},
        print: () => {},
      }),
    ).rejects.toThrow('redis-server not found: install it with "sudo apt-get install -y redis-server"');
  });

  it('finds executables on PATH', async () => {
    expect(await findOnPath('node-does-not-exist-xyz')).toBeNull();
    expect(await findOnPath('sh')).toMatch(/\/sh$/);
  });
});
