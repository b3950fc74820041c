/**
 * The local actuator with real child processes. The machine entry point is a stand-in script (the
 * real worker is exercised by test/e2e/autoscale-local.e2e.test.ts): it records the environment it
 * was started with and drains (exits) on SIGTERM.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '@visionbatch/shared/logger';
import { afterEach, describe, expect, it } from 'vitest';
import { useTempDir, waitFor } from '../../../../test/support/helpers.ts';
import { LocalActuator } from './local-actuator.ts';

const MACHINE = `
import { writeFileSync } from 'node:fs';
import path from 'node:path';
const e = process.env;
writeFileSync(path.join(e.VB_TEST_OUT, e.VB_WORKER_ID + '.json'), JSON.stringify({
  pool: e.VB_WORKER_POOL, port: e.VB_WORKER_HTTP_PORT, scheduler: e.VB_SCHEDULER_URL, ipc: !!process.send,
}));
if (e.VB_TEST_CRASH) process.exit(3);
process.on('SIGTERM', () => {
  writeFileSync(path.join(e.VB_TEST_OUT, e.VB_WORKER_ID + '.drained'), '');
  process.exit(0);
});
setInterval(() => {}, 1000);
`;

describe('local actuator', () => {
  let actuator: LocalActuator | null = null;
  afterEach(async () => {
    await actuator?.close();
    actuator = null;
  });

  async function make(extraEnv: Record<string, string> = {}) {
    const dir = await useTempDir('vb-local-actuator-');
    const main = path.join(dir, 'machine.mjs');
    writeFileSync(main, MACHINE);
    actuator = new LocalActuator({
      env: { ...process.env, VB_TEST_OUT: dir, ...extraEnv },
      schedulerUrl: '127.0.0.1:50999',
      logger: createLogger('test', 'silent'),
      workerMain: main,
      stopGraceMs: 5_000,
      idPrefix: 'lt',
    });
    return { dir, a: actuator };
  }

  it('starts machines with their own id, pool, any free port and the scheduler URL', async () => {
    const { dir, a } = await make();
    await a.scaleTo('cpu', { desired: 2, idleMachines: [], busyMachines: [] });
    await a.scaleTo('gpu', { desired: 1, idleMachines: [], busyMachines: [] });
    expect(await a.size('cpu')).toBe(2);
    expect(await a.size('gpu')).toBe(1);
    const ids = [...a.running('cpu'), ...a.running('gpu')];
    expect(new Set(ids).size).toBe(3);
    await waitFor(() => ids.every((id) => existsSync(path.join(dir, `${id}.json`))), {
      timeoutMs: 15_000,
      message: 'machines started',
    });
    const seen = ids.map((id) => JSON.parse(readFileSync(path.join(dir, `${id}.json`), 'utf8')));
    expect(seen.map((s) => s.pool).sort()).toEqual(['cpu', 'cpu', 'gpu']);
    for (const s of seen) expect(s).toMatchObject({ port: '0', scheduler: '127.0.0.1:50999', ipc: true });
  });

  it('scales down by lease-free machines only; machines it does not know as idle stay', async () => {
    const { dir, a } = await make();
    await a.scaleTo('cpu', { desired: 3, idleMachines: [], busyMachines: [] });
    const [m1, m2, m3] = a.running('cpu');
    await waitFor(() => [m1, m2, m3].every((id) => existsSync(path.join(dir, `${id}.json`))), {
      timeoutMs: 15_000,
    });
    // m2 holds a lease, m3 has not registered yet: only m1 may go, although 0 are wanted
    await a.scaleTo('cpu', { desired: 0, idleMachines: [m1], busyMachines: [m2] });
    expect(await a.size('cpu')).toBe(2);
    await waitFor(() => !a.running('cpu').includes(m1), { timeoutMs: 10_000, message: 'm1 exited' });
    expect(existsSync(path.join(dir, `${m1}.drained`))).toBe(true);
    expect(a.running('cpu').sort()).toEqual([m2, m3].sort());
    // once they are idle, they go too
    await a.scaleTo('cpu', { desired: 0, idleMachines: [m2, m3], busyMachines: [] });
    await waitFor(() => a.running('cpu').length === 0, { timeoutMs: 10_000, message: 'all exited' });
  });

  it('backs off a pool whose machines crash at start instead of respawning them in a loop', async () => {
    const { a } = await make({ VB_TEST_CRASH: '1' });
    await a.scaleTo('gpu', { desired: 1, idleMachines: [], busyMachines: [] });
    await waitFor(() => a.running('gpu').length === 0, { timeoutMs: 10_000, message: 'crashed' });
    await a.scaleTo('gpu', { desired: 1, idleMachines: [], busyMachines: [] });
    expect(await a.size('gpu')).toBe(0);
  });

  it('stops every machine when closed', async () => {
    const { dir, a } = await make();
    await a.scaleTo('cpu', { desired: 2, idleMachines: [], busyMachines: [] });
    const ids = a.running('cpu');
    await waitFor(() => ids.every((id) => existsSync(path.join(dir, `${id}.json`))), { timeoutMs: 15_000 });
    await a.close();
    expect(a.running('cpu')).toEqual([]);
    for (const id of ids) expect(existsSync(path.join(dir, `${id}.drained`))).toBe(true);
    // closed: no new machines
    await a.scaleTo('cpu', { desired: 2, idleMachines: [], busyMachines: [] });
    expect(await a.size('cpu')).toBe(0);
  });
});
