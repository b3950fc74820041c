import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectStore } from '@visionbatch/shared/object-store/index';
import type { ModelRecord } from '@visionbatch/shared/registry-repo';

/**
 * Model weights on local disk: `<cacheDir>/<sha256>.onnx`, fetched from the object store once per
 * machine (every slot thread of a machine shares the folder; writes are atomic renames, so two
 * slots fetching at once is harmless).
 */

const SHA256_RE = /^[0-9a-f]{64}$/;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Weights whose bytes do not hash to the registered sha256: fetching again will not help. */
export class WeightsIntegrityError extends Error {
  constructor(modelId: string, expected: string, actual: string) {
    super(`weights of model "${modelId}" have sha256 ${actual}, the registry says ${expected}`);
    this.name = 'WeightsIntegrityError';
  }
}

/** The weights of `record`, from the cache or the store (then cached). */
export async function loadWeights(
  store: ObjectStore,
  record: ModelRecord,
  cacheDir: string,
): Promise<Buffer> {
  const sha = record.weightsSha256?.toLowerCase() ?? '';
  const cacheable = SHA256_RE.test(sha);
  const file = path.join(cacheDir, `${sha}.onnx`);
  if (cacheable) {
    try {
      const cached = await readFile(file);
      if (sha256(cached) === sha) return cached;
    } catch {
      // not cached yet (or unreadable): fetch
    }
  }
  const bytes = await store.getBuffer(record.weightsKey);
  if (cacheable) {
    const actual = sha256(bytes);
    if (actual !== sha) throw new WeightsIntegrityError(record.modelId, sha, actual);
    await mkdir(cacheDir, { recursive: true });
    const tmp = `${file}.${randomUUID()}.tmp`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch {
      // a cache we cannot write only costs a fetch next time
      await rm(tmp, { force: true });
    }
  }
  return bytes;
}
