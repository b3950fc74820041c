import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { PermanentTaskError } from '@visionbatch/shared/errors';
import { isSafeFileName } from '@visionbatch/shared/ids';
import { objectKeys } from '@visionbatch/shared/object-keys';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import { type Pack, pack as tarPack } from 'tar-stream';
import { keyPathOf } from './persisted-images.ts';
import type { ExportTask, FileFailure, TaskOutcome } from './protocol.ts';

/**
 * An export task: streams the listed result files into ONE `tar.gz` object (members are the
 * plain file names, regular files only; persisted images are named by their decoded key path,
 * `<image>/<output>.jpg`), written under a deterministic key.
 */

function isNotFound(err: unknown): boolean {
  return err instanceof Error && err.name === 'ObjectNotFoundError';
}

type Entry = ReturnType<Pack['entry']>;

/** Writes a readable into a tar entry, honouring back-pressure. */
async function copyInto(src: AsyncIterable<Buffer>, entry: Entry): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    entry.once('error', reject);
    entry.once('finish', () => resolve());
    entry.once('close', () => resolve());
  });
  for await (const chunk of src) {
    if (!entry.write(chunk)) await once(entry as unknown as NodeJS.EventEmitter, 'drain');
  }
  entry.end(undefined);
  await done;
}

/**
 * Runs one export task. Files that do not exist are reported as `not-found` failures and left
 * out; a name that is not a plain file name is a permanent error.
 */
export async function runExportTask(
  store: ObjectStore,
  workspace: string,
  task: ExportTask,
): Promise<TaskOutcome> {
  for (const f of task.input.files) {
    if (!isSafeFileName(f))
      throw new PermanentTaskError('invalid-file-name', `"${f}" is not a plain file name`);
  }
  if (!isSafeFileName(task.output.fileName))
    throw new PermanentTaskError('invalid-file-name', `"${task.output.fileName}" is not a plain file name`);
  const outputKey = objectKeys.batchFile(
    workspace,
    task.output.batchId,
    task.output.part,
    task.output.fileName,
  );
  const pack = tarPack();
  const gzip = createGzip();
  pack.pipe(gzip);
  // the store consumes the archive while we produce it
  const upload = store.put(outputKey, gzip, { contentType: 'application/gzip' });
  upload.catch(() => {}); // awaited below; an early failure must not go unhandled meanwhile
  const failures: FileFailure[] = [];
  let packed = 0;
  try {
    for (const name of task.input.files) {
      const key = objectKeys.batchFile(workspace, task.input.batchId, task.input.part, name);
      let size: number;
      let mtime: Date | undefined;
      try {
        const info = await store.stat(key);
        size = info.size;
        mtime = info.lastModified;
      } catch (err) {
        if (isNotFound(err)) {
          failures.push({ file: name, reason: 'not-found', message: 'the results file does not exist' });
          continue;
        }
        throw err;
      }
      const member = task.input.keyPaths ? keyPathOf(name) : name;
      const entry = pack.entry({ name: member, size, type: 'file', mode: 0o644, mtime: mtime ?? new Date() });
      await copyInto(await store.get(key), entry);
      packed++;
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    gzip.destroy(err as Error);
    await upload.catch(() => {});
    throw err;
  }
  const info = await upload;
  return { processed: packed, failures, thresholdExceeded: false, outputKey, outputBytes: info.size };
}
