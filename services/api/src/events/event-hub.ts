import type { Logger } from '@visionbatch/shared/logger';
import type { Redis } from 'ioredis';
import { compareStreamIds, minStreamId } from './stream-id.ts';

/** An entry of a job's event stream. */
export interface StreamEntry {
  id: string;
  type: string;
  data: string;
}

/** A follower's handle: stop receiving. */
export interface Subscription {
  close(): void;
}

interface Follower {
  /** the last id handed to this follower */
  cursor: string;
  deliver(entries: StreamEntry[]): void;
}

export interface EventHubOptions {
  /** longest a read blocks; also the longest a newly followed stream waits to join the read */
  blockMs?: number;
  /** entries per stream per read */
  count?: number;
}

/**
 * Follows any number of job event streams over ONE Redis connection: a single loop `XREAD BLOCK`s
 * on every followed stream at once (each from the earliest cursor of its followers) and hands each
 * follower the entries after its own cursor. Many watchers therefore cost one connection per api
 * process, not one each; the loop runs only while someone follows.
 *
 * The connection must be dedicated to the hub (a blocking read holds it) and must not time commands
 * out sooner than `blockMs`.
 */
export class JobEventHub {
  private readonly followers = new Map<string, Set<Follower>>();
  private loop: Promise<void> | null = null;
  private closed = false;
  private readonly blockMs: number;
  private readonly count: number;

  constructor(
    private readonly conn: Redis,
    private readonly logger: Logger,
    opts: EventHubOptions = {},
  ) {
    this.blockMs = opts.blockMs ?? 500;
    this.count = opts.count ?? 500;
  }

  /** Streams followed now (for tests and metrics). */
  get streams(): number {
    return this.followers.size;
  }

  /**
   * Hands `deliver` every entry of stream `key` after `afterId`, in order, as they are written,
   * until the subscription is closed. Entries arrive in batches (one call per read).
   */
  follow(key: string, afterId: string, deliver: (entries: StreamEntry[]) => void): Subscription {
    if (this.closed) throw new Error('event hub closed');
    const f: Follower = { cursor: afterId, deliver };
    const set = this.followers.get(key) ?? new Set<Follower>();
    this.followers.set(key, set);
    set.add(f);
    this.ensureLoop();
    return {
      close: () => {
        const s = this.followers.get(key);
        s?.delete(f);
        if (s && s.size === 0) this.followers.delete(key);
      },
    };
  }

  /** Stops the loop (after its current read) and drops every follower. */
  async close(): Promise<void> {
    this.closed = true;
    this.followers.clear();
    await this.loop;
  }

  private ensureLoop(): void {
    if (this.loop || this.closed) return;
    this.loop = this.run().finally(() => {
      this.loop = null;
      // a follower that came while the loop was winding down
      if (this.followers.size > 0) this.ensureLoop();
    });
  }

  private async run(): Promise<void> {
    while (!this.closed && this.followers.size > 0) {
      const streams = [...this.followers.entries()].map(([key, set]) => {
        let from: string | null = null;
        for (const f of set) from = from === null ? f.cursor : minStreamId(from, f.cursor);
        return { key, from: from ?? '0-0' };
      });
      let res: Array<[string, Array<[string, string[]]>]> | null;
      try {
        res = (await this.conn.xread(
          'COUNT',
          this.count,
          'BLOCK',
          this.blockMs,
          'STREAMS',
          ...streams.map((s) => s.key),
          ...streams.map((s) => s.from),
        )) as Array<[string, Array<[string, string[]]>]> | null;
      } catch (err) {
        if (this.closed) return;
        this.logger.warn({ err: (err as Error).message }, 'job event read failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      for (const [key, raw] of res ?? []) {
        const entries = raw.map(([id, fields]) => toEntry(id, fields));
        for (const f of this.followers.get(key) ?? []) {
          const fresh = entries.filter((e) => compareStreamIds(e.id, f.cursor) > 0);
          if (fresh.length === 0) continue;
          f.cursor = fresh[fresh.length - 1].id;
          try {
            f.deliver(fresh);
          } catch (err) {
            this.logger.warn({ err: (err as Error).message }, 'job event follower failed');
          }
        }
      }
    }
  }
}

function toEntry(id: string, fields: string[]): StreamEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  return { id, type: f.type ?? 'unknown', data: f.data ?? '{}' };
}
