/**
 * Thrown when a key or prefix is not a safe `/`-separated relative path (an absolute path, a `..`
 * segment, a backslash, NUL, ...), or when the fs driver cannot store it because it collides with an
 * existing object or folder (`a` and `a/b` cannot both exist on a filesystem).
 */
export class InvalidObjectKeyError extends Error {
  /** Stable code, for the error catalog. */
  readonly code = 'VB_ERR_INVALID_OBJECT_KEY';

  constructor(
    /** The offending key or prefix. */
    readonly key: string,
    /** Why it was refused, e.g. `contains a ".." segment`. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Invalid object key ${JSON.stringify(key)}: ${reason}`, options);
    this.name = 'InvalidObjectKeyError';
  }
}
