import type { Readable } from 'node:stream';

/** What a store knows about one stored object. */
export interface ObjectInfo {
  /** The object's key: a `/`-separated relative path such as `jobs/42/input/a.jpg`. */
  key: string;
  /** Size in bytes. */
  size: number;
  /**
   * Opaque version tag. The S3 driver returns the server's ETag (an MD5 for single-PUT objects, a
   * server-specific value for multipart ones); the fs driver returns the MD5 of the content. Absent in
   * fs `list` results (reading it would cost one extra file read per object).
   */
  etag?: string;
  /** MIME type given at `put` time; {@link DEFAULT_CONTENT_TYPE} when none was given. Absent in `list` results. */
  contentType?: string;
  /** When the object was last written. */
  lastModified?: Date;
}

/** One page of a {@link ObjectStore.list} call. */
export interface ListPage {
  /** Objects in ascending byte-wise (UTF-8) key order, as S3 orders them. */
  items: ObjectInfo[];
  /** Pass back as `token` to get the next page; `null` when this page is the last one. */
  nextToken: string | null;
}

/**
 * Everything a body given to {@link ObjectStore.put} can be. Streams are consumed incrementally; a
 * string is written as UTF-8.
 */
export type ObjectBody = Buffer | Uint8Array | string | NodeJS.ReadableStream | Readable;

/** Options of {@link ObjectStore.put}. */
export interface PutOptions {
  /**
   * MIME type stored with the object.
   * @default 'application/octet-stream' (no guessing from the key's extension, so both drivers agree)
   */
  contentType?: string;
  /**
   * Expected size in bytes, when the caller knows it. The put fails with `ObjectSizeMismatchError` (and
   * leaves no object behind) when the body turns out to have another length. The S3 driver also uses it
   * to pick a part size big enough for the 10,000-part limit.
   */
  size?: number;
}

/** A byte range: `start` and `end` are both inclusive, as in an HTTP `Range` header. */
export interface ByteRange {
  start: number;
  /** Inclusive last byte; omitted means "to the end of the object". */
  end?: number;
}

/** Options of {@link ObjectStore.list}. */
export interface ListOptions {
  /**
   * Most items per page; values above {@link MAX_LIST_PAGE_SIZE} are lowered to it (the S3 limit).
   * @default 1000
   */
  pageSize?: number;
  /** `nextToken` of the previous page; `null` or omitted for the first page. */
  token?: string | null;
}

/**
 * The seam between visionbatch and blob storage (uploads, frames, results). Keys are `/`-separated
 * relative paths; see `object-key.ts` for what is accepted. Both drivers pass the same contract suite
 * (`test/object-store.contract.test.ts`).
 */
export interface ObjectStore {
  /**
   * Stores `body` under `key`, replacing any object there. Readers see either the old or the new object,
   * never a partial one. Streams are never held whole in memory (the S3 driver holds at most two parts).
   */
  put(key: string, body: ObjectBody, opts?: PutOptions): Promise<ObjectInfo>;
  /**
   * Streams the object, or the part of it in `range`. A range is clamped to the object like
   * `Buffer#subarray`: a `start` at or past the end gives an empty stream.
   * @throws ObjectNotFoundError when there is no object at `key`
   */
  get(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * Reads a whole object into memory; for small objects (manifests, JSON results) only.
   * @throws ObjectNotFoundError when there is no object at `key`
   */
  getBuffer(key: string): Promise<Buffer>;
  /** @throws ObjectNotFoundError when there is no object at `key` */
  stat(key: string): Promise<ObjectInfo>;
  exists(key: string): Promise<boolean>;
  /**
   * One page of the objects whose keys start with `prefix` (a plain string prefix, as in S3: `jobs/1`
   * matches `jobs/1/a` and `jobs/10/b`). Tokens are opaque and only valid for the same driver and prefix.
   */
  list(prefix: string, opts?: ListOptions): Promise<ListPage>;
  /** Every object under `prefix`, page after page, in key order. */
  listAll(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Removes every object under `prefix` and returns how many there were. `''` empties the store. */
  deletePrefix(prefix: string): Promise<number>;
  /** Releases sockets and other resources; the store must not be used afterwards. */
  close?(): Promise<void>;
}

/** Content type stored when a `put` names none. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** The largest page S3's ListObjectsV2 returns; both drivers cap `pageSize` at it. */
export const MAX_LIST_PAGE_SIZE = 1000;
