/** Thrown when an outbound call (download, DNS lookup, webhook, object-store call) runs past its total deadline. */
export class DeadlineExceededError extends Error {
  constructor(
    /** What ran out of time, e.g. `download of https://host/a.jpg`. */
    readonly what: string,
    readonly ms: number,
  ) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * Runs `fn` under a TOTAL deadline of `ms` (not an idle timeout: a peer that trickles bytes forever
 * still ends at the deadline). `fn` gets a signal that aborts at the deadline (or when `parent`
 * aborts) and must stop its own work through it: destroy its streams, abort its requests. The
 * returned promise settles at the deadline either way, with {@link DeadlineExceededError}.
 */
export async function withDeadline<T>(
  what: string,
  ms: number,
  fn: (signal: AbortSignal) => Promise<T>,
  parent?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DeadlineExceededError(what, ms)), ms);
  const onParentAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  try {
    return await new Promise<T>((resolve, reject) => {
      const { signal } = controller;
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      // fn's own rejection after the deadline lands here too, so it is never unhandled.
      fn(signal).then(resolve, reject);
    });
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onParentAbort);
  }
}
