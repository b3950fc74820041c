import { Errors } from './errors.ts';
import { objectKeys } from './object-keys.ts';
import { assertValidKey, keyCharsProblem, segmentProblem } from './object-store/object-key.ts';

/**
 * Names and ids checked at the api's edge. Every rule for something that becomes part of an
 * object key derives from the object store's own rules (`object-store/object-key.ts`), so a name
 * that passes here is never refused by a store (reserved `.vb-` prefixes, `.`/`..`, byte lengths).
 */

/** Batch ids: `^[a-z0-9_-]+$`, 1–64 chars (spec §5.1). */
export const BATCH_ID_RE = /^[a-z0-9_-]{1,64}$/;
/** Job ids: `^[a-z0-9_-]+$`, 1–20 chars (spec §5.1). */
export const JOB_ID_RE = /^[a-z0-9_-]{1,20}$/;
/** Workspace, stage, task and shard ids: URL-safe. */
export const SAFE_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
/** Workflow ids (visionbatch registry). */
export const WORKFLOW_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
/** Part names of multipart batches (`results`, `images`, ...). */
export const PART_NAME_RE = /^[A-Za-z0-9_.-]{1,128}$/;
/** Model ids: `project` or `project/version`, pieces of `[A-Za-z0-9_.-]`. */
export const MODEL_ID_RE = /^[A-Za-z0-9_.-]{1,100}(\/[A-Za-z0-9_.-]{1,100})?$/;

/** What keeps `name` from being one object-key segment (a file name in a batch), or null. */
export function fileNameProblem(name: string): string | null {
  if (typeof name !== 'string') return 'not a string';
  if (name.includes('/')) return 'a "/"';
  return keyCharsProblem(name) ?? segmentProblem(name);
}

/**
 * A file name as stored in a batch: exactly one object-key segment (no `/`, `\`, control
 * characters; not `.`, `..` or a reserved `.vb-` name; at most 200 UTF-8 bytes). Anything else is
 * refused, so no name can escape its batch's prefix or be refused by a store after it was accepted.
 */
export function isSafeFileName(name: string): boolean {
  return fileNameProblem(name) === null;
}

export function assertFileName(name: string, field = 'fileName'): string {
  const problem = fileNameProblem(name);
  if (problem)
    throw Errors.validation(
      field,
      `must be a plain file name of at most 200 bytes, not "." or "..", not starting ".vb-", without "/", "\\" or control characters (has ${problem})`,
    );
  return name;
}

/** A pattern check plus the store's segment rules (for ids that become one key segment). */
function assertSegmentId(id: string, re: RegExp, field: string, rule: string): string {
  if (typeof id !== 'string' || !re.test(id) || fileNameProblem(id) !== null)
    throw Errors.validation(field, rule);
  return id;
}

export function assertBatchId(id: string, field = 'batch_id'): string {
  return assertSegmentId(id, BATCH_ID_RE, field, 'must match ^[a-z0-9_-]+$ and be 1-64 characters long');
}

export function assertJobId(id: string, field = 'job_id'): string {
  return assertSegmentId(id, JOB_ID_RE, field, 'must match ^[a-z0-9_-]+$ and be 1-20 characters long');
}

export function assertWorkflowId(id: string, field = 'workflowId'): string {
  return assertSegmentId(id, WORKFLOW_ID_RE, field, 'must match [A-Za-z0-9_-]{1,128}');
}

export function assertPartName(name: string, field = 'partName'): string {
  return assertSegmentId(
    name,
    PART_NAME_RE,
    field,
    'must match [A-Za-z0-9_.-]{1,128}, not "." or "..", not starting ".vb-"',
  );
}

/**
 * A model id (`project/version`): each piece a storable segment, and the weights key built from
 * it (the id is one percent-encoded segment) valid for the store, checked with the store's own
 * `assertValidKey`.
 */
export function assertModelId(id: string, field = 'modelId'): string {
  const rule =
    'must look like "project/version" of [A-Za-z0-9_.-], pieces not "." or ".." and not starting ".vb-", at most 200 bytes once encoded';
  if (typeof id !== 'string' || !MODEL_ID_RE.test(id) || id.split('/').some((p) => segmentProblem(p)))
    throw Errors.validation(field, rule);
  try {
    assertValidKey(objectKeys.modelWeights('ws', id));
  } catch {
    throw Errors.validation(field, rule);
  }
  return id;
}
