/** Thrown by `get`, `getBuffer` and `stat` when no object exists at the key. */
export class ObjectNotFoundError extends Error {
  /** Stable code, for the error catalog. */
  readonly code = 'VB_ERR_OBJECT_NOT_FOUND';

  constructor(
    /** The key that was asked for. */
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`Object not found: ${JSON.stringify(key)}`, options);
    this.name = 'ObjectNotFoundError';
  }
}
