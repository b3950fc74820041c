/** Model inspection and validation run in a child process, which the OOM killer takes first: the api survives a model too big to load. */
import { readdirSync, readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/support/basics.ts';
import { inspectModel } from './model-validation.ts';

/** The validation child of this process, once it has raised its OOM score. */
function validationChild(): number | null {
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (ppid === process.pid && cmdline.includes('model-validation-child.ts')) return Number(d);
    } catch {}
  }
  return null;
}

describe.skipIf(process.platform !== 'linux')('inspectModel', () => {
  it('loads the model in a child that the OOM killer takes first; its death fails the upload with a 400', async () => {
    const weights = new PassThrough();
    const outcome = inspectModel({ modelId: 'm/1', config: null, weightsBytes: 64 * 1024 * 1024 }, weights, {
      timeoutMs: 60_000,
      maxMemoryBytes: 2 * 1024 ** 3,
    }).then(
      () => null,
      (err: Error & { statusCode?: number }) => err,
    );
    weights.write(Buffer.alloc(1024));
    const pid = await waitFor(
      () => {
        const p = validationChild();
        return p !== null && readFileSync(`/proc/${p}/oom_score_adj`, 'utf8').trim() === '1000' ? p : null;
      },
      { timeoutMs: 30_000, message: 'the validation child with oom_score_adj 1000' },
    );
    process.kill(pid, 'SIGKILL'); // what the kernel's OOM killer does
    const err = await outcome;
    expect(err?.statusCode).toBe(400);
    expect(err?.message).toMatch(/^weights: the model could not be loaded within the memory/);
    weights.destroy();
  });
});
