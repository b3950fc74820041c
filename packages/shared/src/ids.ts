import { Errors } from './errors.ts';

/** Batch ids: `^[a-z0-9_-]+$`, 1–64 chars (spec §5.1). */
export const BATCH_ID_RE = /^[a-z0-9_-]{1,64}$/;
/** Job ids: `^[a-z0-9_-]+$`, 1–20 chars (spec §5.1). */
export const JOB_ID_RE = /^[a-z0-9_-]{1,20}$/;
/** Workspace, stage, task and shard ids: URL-safe. */
export const SAFE_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

export function assertBatchId(id: string, field = 'batch_id'): string {
  if (!BATCH_ID_RE.test(id))
    throw Errors.validation(field, 'must match ^[a-z0-9_-]+$ and be 1-64 characters long');
  return id;
}

export function assertJobId(id: string, field = 'job_id'): string {
  if (!JOB_ID_RE.test(id))
    throw Errors.validation(field, 'must match ^[a-z0-9_-]+$ and be 1-20 characters long');
  return id;
}

/**
 * A file name as stored in a batch: a plain base name (no `/`, `\`, NUL, `.` or `..`), at most
 * 255 bytes. Anything else is refused, so no name can escape its batch's prefix.
 */
export function isSafeFileName(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= 255 &&
    name !== '.' &&
    name !== '..' &&
    !/[/\\\0]/.test(name) &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
    !/[\u0000-\u001f]/.test(name)
  );
}

export function assertFileName(name: string, field = 'fileName'): string {
  if (!isSafeFileName(name))
    throw Errors.validation(field, 'must be a plain file name without path separators');
  return name;
}
