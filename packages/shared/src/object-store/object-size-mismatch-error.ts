/** Thrown by `put` when the body's length differs from the `size` the caller announced; nothing is stored. */
export class ObjectSizeMismatchError extends Error {
  /** Stable code, for the error catalog. */
  readonly code = 'VB_ERR_OBJECT_SIZE_MISMATCH';

  constructor(
    readonly key: string,
    /** The announced size. */
    readonly expected: number,
    /** The bytes actually read from the body (reading stops once it exceeds `expected`). */
    readonly actual: number,
  ) {
    super(`Object ${JSON.stringify(key)}: expected ${expected} bytes, body had ${actual}`);
    this.name = 'ObjectSizeMismatchError';
  }
}
