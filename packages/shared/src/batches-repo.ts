import type { Redis } from 'ioredis';
import { Errors } from './errors.ts';
import { offsetFromToken } from './page-token.ts';
import { keys } from './redis-keys.ts';
import type { Clock } from './time.ts';
import type { BatchType, ContentType, MultipartBatchPartMetadata } from './wire/data-staging.ts';

/** A staged batch as stored. */
export interface BatchRecord {
  batchId: string;
  workspace: string;
  displayName: string;
  batchType: BatchType;
  contentType: ContentType;
  createdAt: number;
  expiresAt: number;
}

/**
 * What ffprobe says about a staged video, probed once (at ingest, or by the first job that plans
 * it) and kept with the file's record, so that planning never downloads a whole video again.
 */
export interface VideoProbe {
  width: number;
  height: number;
  /** declared frame rate as an exact fraction */
  fps: { num: number; den: number };
  /** frames in the stream when the container says, else null */
  frameCount: number | null;
  durationSec: number | null;
}

/** One file of a batch as stored (its object key is derived from the names). */
export interface FileRecord {
  contentType: string;
  size: number;
  shardId?: string;
  nestedContentType?: string;
  /** videos: the stored probe */
  video?: VideoProbe;
}

/** A tar shard of a sharded batch (ShardDetails on the wire, plus internal fields). */
export interface ShardRecord {
  shardId: string;
  statusName: 'shard-registered' | 'shard-uploaded' | 'shard-ingested' | 'shard-ingest-failed';
  statusType: 'info' | 'success' | 'error';
  eventTimestamp: string;
  shardObjectsCount: number;
  statusMetadata?: Record<string, unknown>;
  registeredAt: number;
}

/** A reference ingest as recorded for deduplication. */
export interface IngestRecord {
  ingestId: string;
  shardIds: string[];
  createdAt: number;
  error?: { type: string; reason: string };
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

// Creates the batch if absent; returns the stored type and content type either way, atomically,
// so two racing first uploads cannot create a batch twice with different types.
const ENSURE_BATCH = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  local t = redis.call('HMGET', KEYS[1], 'batchType', 'contentType', 'expiresAt')
  if tonumber(t[3]) and tonumber(t[3]) <= tonumber(ARGV[6]) then return {'__expired__', ''} end
  return {t[1], t[2]}
end
redis.call('HSET', KEYS[1], 'batchId', ARGV[1], 'workspace', ARGV[2], 'displayName', ARGV[3],
  'batchType', ARGV[4], 'contentType', ARGV[5], 'createdAt', ARGV[6], 'expiresAt', ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[2] .. '/' .. ARGV[1])
return {ARGV[4], ARGV[5]}
`;

/** Redis repository of batches and their files (Data Staging state). */
export class BatchesRepo {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  async get(ws: string, batchId: string): Promise<BatchRecord | null> {
    const h = await this.redis.hgetall(keys.batch(ws, batchId));
    if (!h.batchId) return null;
    const rec: BatchRecord = {
      batchId: h.batchId,
      workspace: h.workspace,
      displayName: h.displayName,
      batchType: h.batchType as BatchType,
      contentType: h.contentType as ContentType,
      createdAt: Number(h.createdAt),
      expiresAt: Number(h.expiresAt),
    };
    return rec.expiresAt <= this.clock.now() ? null : rec;
  }

  async require(ws: string, batchId: string): Promise<BatchRecord> {
    const rec = await this.get(ws, batchId);
    if (!rec) throw Errors.notFound('batch', batchId);
    return rec;
  }

  /**
   * Returns the batch, creating it with the given type if absent. A batch keeps the type of its
   * first upload: another type (e.g. a single upload into a sharded batch) is a 409.
   */
  async ensure(
    ws: string,
    batchId: string,
    init: { displayName: string; batchType: BatchType; contentType: ContentType },
  ): Promise<void> {
    const now = this.clock.now();
    const [type, content] = (await this.redis.eval(
      ENSURE_BATCH,
      3,
      keys.batch(ws, batchId),
      keys.batchIndex(ws),
      keys.batchExpiry(),
      batchId,
      ws,
      init.displayName,
      init.batchType,
      init.contentType,
      String(now),
      String(now + this.ttlMs),
    )) as [string, string];
    // An expired batch still holding keys is replaced only after the collector removed it (checked
    // inside the script, so two racing first uploads never see each other's fresh batch as stale).
    if (type === '__expired__')
      throw Errors.conflict(`batch "${batchId}" has expired and is being removed; use another batch id`);
    if (type !== init.batchType || content !== init.contentType) {
      throw Errors.conflict(
        `batch "${batchId}" is a ${type} of ${content}; it cannot take a ${init.batchType} upload of ${init.contentType}`,
        { batchType: type, batchContentType: content },
      );
    }
  }

  /** Adds (or overwrites) a file record; listing order is by name. */
  async putFile(ws: string, batchId: string, part: string, name: string, rec: FileRecord): Promise<void> {
    await this.redis
      .multi()
      .zadd(keys.batchFiles(ws, batchId, part), 0, name)
      .hset(keys.batchFileMeta(ws, batchId, part), name, JSON.stringify(rec))
      .exec();
  }

  /** Adds (or overwrites) many file records of one part in one round trip. */
  async putFiles(
    ws: string,
    batchId: string,
    part: string,
    files: ReadonlyArray<{ name: string; rec: FileRecord }>,
  ): Promise<void> {
    if (files.length === 0) return;
    const m = this.redis.multi();
    for (const f of files) {
      m.zadd(keys.batchFiles(ws, batchId, part), 0, f.name);
      m.hset(keys.batchFileMeta(ws, batchId, part), f.name, JSON.stringify(f.rec));
    }
    await m.exec();
  }

  async getFile(ws: string, batchId: string, part: string, name: string): Promise<FileRecord | null> {
    const v = await this.redis.hget(keys.batchFileMeta(ws, batchId, part), name);
    return v ? (JSON.parse(v) as FileRecord) : null;
  }

  /** The stored probe of a staged video, or null when it was never probed (or is no file). */
  async getVideoProbe(ws: string, batchId: string, part: string, name: string): Promise<VideoProbe | null> {
    return (await this.getFile(ws, batchId, part, name))?.video ?? null;
  }

  /** Stores a video's probe with its file record (a no-op when the file is gone). */
  async setVideoProbe(
    ws: string,
    batchId: string,
    part: string,
    name: string,
    video: VideoProbe,
  ): Promise<void> {
    const rec = await this.getFile(ws, batchId, part, name);
    if (!rec) return;
    // Only while the record exists: a batch purged meanwhile must not get its hash back.
    await this.redis.eval(
      "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end",
      1,
      keys.batchFileMeta(ws, batchId, part),
      name,
      JSON.stringify({ ...rec, video }),
    );
  }

  async hasFile(ws: string, batchId: string, part: string, name: string): Promise<boolean> {
    return (await this.redis.zscore(keys.batchFiles(ws, batchId, part), name)) !== null;
  }

  async count(ws: string, batchId: string, part: string): Promise<number> {
    return this.redis.zcard(keys.batchFiles(ws, batchId, part));
  }

  /** One page of file names in lexicographic order; the token is the last name of the previous page. */
  async listFiles(
    ws: string,
    batchId: string,
    part: string,
    token: string | null,
    pageSize: number,
  ): Promise<Page<{ name: string; file: FileRecord }>> {
    const min = token ? `(${token}` : '-';
    const names = await this.redis.zrangebylex(
      keys.batchFiles(ws, batchId, part),
      min,
      '+',
      'LIMIT',
      0,
      pageSize + 1,
    );
    const pageNames = names.slice(0, pageSize);
    const metas = pageNames.length
      ? await this.redis.hmget(keys.batchFileMeta(ws, batchId, part), ...pageNames)
      : [];
    const items = pageNames.map((name, i) => ({
      name,
      file: (metas[i] ? JSON.parse(metas[i] as string) : { contentType: 'unknown', size: 0 }) as FileRecord,
    }));
    return { items, next: names.length > pageSize ? (pageNames.at(-1) ?? null) : null };
  }

  /** Streams every file name of a part in order, a page at a time (bounded memory). */
  async *iterateFileNames(
    ws: string,
    batchId: string,
    part: string,
    pageSize = 5000,
  ): AsyncGenerator<string[]> {
    let min = '-';
    for (;;) {
      const names = await this.redis.zrangebylex(
        keys.batchFiles(ws, batchId, part),
        min,
        '+',
        'LIMIT',
        0,
        pageSize,
      );
      if (names.length === 0) return;
      yield names;
      if (names.length < pageSize) return;
      min = `(${names.at(-1)}`;
    }
  }

  /** Batches of a workspace, newest first, expired ones left out. Token = offset. */
  async list(ws: string, token: string | null, pageSize: number): Promise<Page<BatchRecord>> {
    const offset = offsetFromToken(token);
    const ids = await this.redis.zrevrange(keys.batchIndex(ws), offset, offset + pageSize);
    const page = ids.slice(0, pageSize);
    const recs = await Promise.all(page.map((id) => this.get(ws, id)));
    return {
      items: recs.filter((r): r is BatchRecord => r !== null),
      next: ids.length > pageSize ? String(offset + pageSize) : null,
    };
  }

  async setPart(ws: string, batchId: string, part: MultipartBatchPartMetadata): Promise<void> {
    await this.redis.hset(keys.batchParts(ws, batchId), part.partName, JSON.stringify(part));
  }

  async parts(ws: string, batchId: string): Promise<MultipartBatchPartMetadata[]> {
    const h = await this.redis.hgetall(keys.batchParts(ws, batchId));
    return Object.values(h)
      .map((v) => JSON.parse(v) as MultipartBatchPartMetadata)
      .sort((a, b) => a.partName.localeCompare(b.partName));
  }

  // ---- shards ----

  async putShard(ws: string, batchId: string, shard: ShardRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(keys.batchShards(ws, batchId), shard.shardId, JSON.stringify(shard))
      .zadd(keys.batchShardOrder(ws, batchId), String(shard.registeredAt), shard.shardId)
      .exec();
  }

  async getShard(ws: string, batchId: string, shardId: string): Promise<ShardRecord | null> {
    const v = await this.redis.hget(keys.batchShards(ws, batchId), shardId);
    return v ? (JSON.parse(v) as ShardRecord) : null;
  }

  /**
   * Shards in registration order; registrations that never received their tar within
   * `orphanAfterMs` are left out (a retried URL request leaves such orphans, spec §2.10).
   */
  async listShards(
    ws: string,
    batchId: string,
    token: string | null,
    pageSize: number,
    orphanAfterMs: number,
  ): Promise<Page<ShardRecord>> {
    const offset = offsetFromToken(token);
    const ids = await this.redis.zrange(
      keys.batchShardOrder(ws, batchId),
      String(offset),
      String(offset + pageSize),
    );
    const page = ids.slice(0, pageSize);
    const raw = page.length ? await this.redis.hmget(keys.batchShards(ws, batchId), ...page) : [];
    const now = this.clock.now();
    const items = raw
      .filter((v): v is string => !!v)
      .map((v) => JSON.parse(v) as ShardRecord)
      .filter((s) => !(s.statusName === 'shard-registered' && now - s.registeredAt > orphanAfterMs));
    return { items, next: ids.length > pageSize ? String(offset + pageSize) : null };
  }

  // ---- reference ingests (spec §2.11 dedup) ----

  /** The ingest recorded for a digest of (batch + reference list), if any. */
  async getIngest(ws: string, batchId: string, digest: string): Promise<IngestRecord | null> {
    const v = await this.redis.hget(keys.batchIngests(ws, batchId), digest);
    return v ? (JSON.parse(v) as IngestRecord) : null;
  }

  /** Records an ingest once; returns false when the digest was already recorded (a duplicate). */
  async recordIngest(ws: string, batchId: string, digest: string, rec: IngestRecord): Promise<boolean> {
    return (await this.redis.hsetnx(keys.batchIngests(ws, batchId), digest, JSON.stringify(rec))) === 1;
  }

  /** Marks a recorded ingest as failed as a whole (bad references file, refused URL). */
  async setIngestFailure(
    ws: string,
    batchId: string,
    digest: string,
    error: { type: string; reason: string },
  ): Promise<void> {
    const rec = await this.getIngest(ws, batchId, digest);
    if (rec) await this.redis.hset(keys.batchIngests(ws, batchId), digest, JSON.stringify({ ...rec, error }));
  }

  // ---- expiry ----

  /** Up to `limit` batches whose expiry time has passed, as `{ws, batchId}`, oldest expiry first. */
  async expired(now: number, limit = 100): Promise<Array<{ ws: string; batchId: string }>> {
    const members = await this.redis.zrangebyscore(
      keys.batchExpiry(),
      '-inf',
      String(now),
      'LIMIT',
      0,
      limit,
    );
    return members.flatMap((m) => {
      const slash = m.lastIndexOf('/');
      return slash > 0 ? [{ ws: m.slice(0, slash), batchId: m.slice(slash + 1) }] : [];
    });
  }

  /**
   * Removes every Redis key of a batch (metadata, file lists of every part, parts, shards) and
   * its entries in the workspace index and the expiry set, in one transaction. Callers delete the
   * objects first, so a crash in between leaves the expiry entry for the next sweep.
   */
  async purge(ws: string, batchId: string): Promise<void> {
    const partNames = ['', ...(await this.redis.hkeys(keys.batchParts(ws, batchId)))];
    await this.redis
      .multi()
      .del(
        keys.batch(ws, batchId),
        keys.batchParts(ws, batchId),
        keys.batchShards(ws, batchId),
        keys.batchShardOrder(ws, batchId),
        keys.batchIngests(ws, batchId),
        ...partNames.flatMap((p) => [keys.batchFiles(ws, batchId, p), keys.batchFileMeta(ws, batchId, p)]),
      )
      .zrem(keys.batchIndex(ws), batchId)
      .zrem(keys.batchExpiry(), `${ws}/${batchId}`)
      .exec();
  }

  /** All shard records of a batch (for ingest bookkeeping). */
  async allShards(ws: string, batchId: string): Promise<ShardRecord[]> {
    return Object.values(await this.redis.hgetall(keys.batchShards(ws, batchId))).map(
      (v) => JSON.parse(v) as ShardRecord,
    );
  }
}
