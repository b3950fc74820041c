/**
 * The error catalog: every error a client can see has a stable `VB_ERR_*` code, an HTTP status
 * and a message. The api's single error handler turns a {@link VbError} into the
 * Roboflow-compatible body `{"error": message, "code": code, ...details}`.
 */
export class VbError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'VbError';
  }

  /** The JSON body sent to clients (spec §1.4: `error` carries the human-readable message). */
  toBody(): Record<string, unknown> {
    return { error: this.message, code: this.code, ...this.details };
  }
}

const make =
  <A extends unknown[]>(
    code: string,
    status: number,
    render: (...a: A) => [string, Record<string, unknown>?],
  ) =>
  (...args: A): VbError => {
    const [message, details] = render(...args);
    return new VbError(code, status, message, details);
  };

/** Factories for every client-visible error, grouped by subsystem. */
export const Errors = {
  // auth
  unauthorized: make('VB_ERR_UNAUTHORIZED', 401, () => ['missing or unknown api_key']),
  forbiddenWorkspace: make('VB_ERR_FORBIDDEN_WORKSPACE', 403, (ws: string) => [
    `this api_key has no access to workspace "${ws}"`,
    { workspace: ws },
  ]),
  badSignature: make('VB_ERR_BAD_SIGNATURE', 403, (why: string) => [`signed URL refused: ${why}`]),

  // request validation
  validation: make('VB_ERR_VALIDATION', 400, (field: string, problem: string) => [
    `${field}: ${problem}`,
    { field },
  ]),
  notFound: make('VB_ERR_NOT_FOUND', 404, (what: string, id: string) => [
    `${what} "${id}" not found`,
    { [what]: id },
  ]),
  routeNotFound: make('VB_ERR_ROUTE_NOT_FOUND', 404, (method: string, url: string) => [
    `no route ${method} ${url}`,
  ]),
  conflict: make('VB_ERR_CONFLICT', 409, (message: string, details?: Record<string, unknown>) => [
    message,
    details,
  ]),
  payloadTooLarge: make('VB_ERR_PAYLOAD_TOO_LARGE', 413, (what: string, limit: number) => [
    `${what} larger than ${limit} bytes`,
    { limitBytes: limit },
  ]),
  unsupportedMedia: make('VB_ERR_UNSUPPORTED_MEDIA', 415, (message: string) => [message]),
  /** A request the HTTP layer refuses before any route runs (bad URL encoding, bad framing). */
  badRequest: make('VB_ERR_BAD_REQUEST', 400, (message: string) => [message]),
  requestTimeout: make('VB_ERR_REQUEST_TIMEOUT', 408, (limitMs: number) => [
    `the request was not received within ${limitMs / 1000} s`,
    { limitMs },
  ]),
  headersTooLarge: make('VB_ERR_HEADERS_TOO_LARGE', 431, () => ['request headers too large']),
  notImplemented: make('VB_ERR_NOT_IMPLEMENTED', 501, (what: string) => [
    `${what} is not supported by visionbatch`,
  ]),

  // job events and estimates
  tooManyStreams: make('VB_ERR_TOO_MANY_STREAMS', 503, (max: number) => [
    `this api serves at most ${max} job event streams at once; retry shortly, or poll the job`,
    { maxStreams: max },
  ]),
  estimateFailed: make('VB_ERR_ESTIMATE_FAILED', 422, (jobId: string, reason: string) => [
    `the sample job ${jobId} of this estimate did not succeed: ${reason}`,
    { estimateJobId: jobId },
  ]),

  // dependencies
  unavailable: make('VB_ERR_UNAVAILABLE', 503, (what: string) => [`${what} is unavailable, retry shortly`]),
  internal: make('VB_ERR_INTERNAL', 500, () => ['internal error']),
} as const;

/** Marks a task failure that retrying cannot fix (BullMQ's UnrecoverableError is thrown for it in workers). */
export class PermanentTaskError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'PermanentTaskError';
  }
}

/**
 * An autoscaler actuator could not set a pool's size. `reason` is stable (it labels
 * `vb_autoscaler_errors_total`): `forbidden` (the scheduler lacks RBAC rights, an operator must act),
 * `not-found` (no such Deployment), `conflict` (still conflicting after re-reads), `unavailable`
 * (the API server did not answer), `spawn` (a local machine could not start).
 */
export class ActuatorError extends Error {
  constructor(
    readonly reason: 'forbidden' | 'not-found' | 'conflict' | 'unavailable' | 'spawn',
    readonly pool: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ActuatorError';
  }
}
