/**
 * Test primitives with no vitest dependency, so `global-setup.ts` (which runs in vitest's main process)
 * can use them too. Test files import them through `helpers.ts`.
 */
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface WaitForOptions {
  /** Give up after this long. @default 10_000 */
  timeoutMs?: number;
  /** Pause between checks. @default 50 */
  intervalMs?: number;
  /** Says what was awaited; it starts the timeout error's message. @default 'condition' */
  message?: string;
}

/**
 * Polls `condition` until it returns a truthy value and returns that value. A throw counts as "not yet";
 * the last error is attached to the timeout error. Use instead of fixed sleeps.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50, message = 'condition' }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${message}${detail}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * A TCP port free on 127.0.0.1 right now (the OS picks it). Another process could take it before the
 * caller binds it; callers that start servers retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A new empty folder under the OS temp dir; the caller removes it (or use {@link useTempDir}). */
export function tempDir(prefix = 'vb-test-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}
