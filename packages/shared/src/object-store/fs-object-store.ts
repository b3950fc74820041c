import { createHash, randomBytes } from 'node:crypto';
import type { Dirent, Stats } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { bodyChunks } from './body.ts';
import { InvalidObjectKeyError } from './invalid-object-key-error.ts';
import {
  assertValidKey,
  assertValidPrefix,
  assertValidRange,
  compareKeys,
  decodeListToken,
  encodeListToken,
  normalizePageSize,
  RESERVED_SEGMENT_PREFIX,
} from './object-key.ts';
import { ObjectNotFoundError } from './object-not-found-error.ts';
import {
  type ByteRange,
  DEFAULT_CONTENT_TYPE,
  type ListOptions,
  type ListPage,
  MAX_LIST_PAGE_SIZE,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.ts';

/** Options of {@link FsObjectStore}. */
export interface FsObjectStoreOptions {
  /** Root folder; created if missing. Object `a/b.jpg` lives at `<dir>/a/b.jpg`. */
  dir: string;
  /**
   * fsync each object (and its folder) before it becomes visible, so a power loss cannot leave an empty
   * or torn file under a committed key. Turn off only for throwaway data.
   * @default true
   */
  fsync?: boolean;
}

/**
 * Metadata of one version of an object, in the hidden sidecar `<dir>/.vb-meta.<name>.<inode>.json`.
 * Naming it after the data file's inode ties it to exactly that version without a second atomic step:
 * put writes the sidecar for its temp file's inode, then renames the temp file over the key (the rename
 * keeps the inode). Concurrent writers of one key therefore never mix one's content with another's
 * metadata; at worst a losing writer's sidecar is left behind (hidden, a few bytes).
 */
interface Sidecar {
  v: 1;
  contentType: string;
  etag: string;
  size: number;
}

const META_PREFIX = `${RESERVED_SEGMENT_PREFIX}meta.`;
const TMP_PREFIX = `${RESERVED_SEGMENT_PREFIX}tmp.`;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Errors meaning "nothing is stored at this path" (a folder at the key's path is a prefix, not an object). */
const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

/**
 * An {@link ObjectStore} on a local folder, for single-machine deployments and tests.
 *
 * Writes go to a temp file in the target folder, then `rename` over the key, so readers never see a
 * partial object and a crash leaves only a hidden temp file (names starting `.vb-tmp.`, never listed).
 * Limitation of any filesystem layout: `a` and `a/b` cannot both exist (a put that would need that fails
 * with `InvalidObjectKeyError`). Symbolic links inside the root are not listed; nothing here creates them.
 */
export class FsObjectStore implements ObjectStore {
  readonly root: string;
  private readonly fsync: boolean;

  private constructor(options: FsObjectStoreOptions) {
    this.root = path.resolve(options.dir);
    this.fsync = options.fsync ?? true;
  }

  /** Creates the root folder if needed and returns the store. */
  static async open(options: FsObjectStoreOptions): Promise<FsObjectStore> {
    const store = new FsObjectStore(options);
    await mkdir(store.root, { recursive: true });
    return store;
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    const file = path.join(this.root, ...key.split('/'));
    // Defence in depth: validation already refuses every way out of the root.
    if (!file.startsWith(this.root + path.sep))
      throw new InvalidObjectKeyError(key, 'escapes the store root');
    return file;
  }

  private static metaPathOf(file: string, ino: number): string {
    return path.join(path.dirname(file), `${META_PREFIX}${path.basename(file)}.${ino}.json`);
  }

  private static tempPathIn(dir: string): string {
    return path.join(dir, `${TMP_PREFIX}${randomBytes(8).toString('hex')}`);
  }

  async put(key: string, body: ObjectBody, opts: PutOptions = {}): Promise<ObjectInfo> {
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    const contentType = opts.contentType ?? DEFAULT_CONTENT_TYPE;
    const { tmp: dataTmp, fh } = await this.createTempFile(key, dir);
    const metaTmp = FsObjectStore.tempPathIn(dir);
    let metaFile: string | undefined;
    let committed = false;
    try {
      const hash = createHash('md5');
      let size = 0;
      let st: Stats;
      try {
        for await (const chunk of bodyChunks(key, body, opts.size)) {
          hash.update(chunk);
          // Awaiting each write gives the source stream natural backpressure.
          await fh.write(chunk);
          size += chunk.length;
        }
        if (this.fsync) await fh.sync();
        st = await fh.stat();
      } finally {
        await fh.close();
      }
      const etag = hash.digest('hex');
      const sidecar: Sidecar = { v: 1, contentType, etag, size };
      await this.writeFileDurably(metaTmp, JSON.stringify(sidecar));
      metaFile = FsObjectStore.metaPathOf(file, st.ino);
      await rename(metaTmp, metaFile);
      const previous = await stat(file).catch(() => undefined);
      try {
        await rename(dataTmp, file);
      } catch (err) {
        if (errno(err) === 'EISDIR' || errno(err) === 'ENOTEMPTY' || errno(err) === 'EEXIST') {
          throw new InvalidObjectKeyError(key, 'a folder of other objects already exists at this key', {
            cause: err,
          });
        }
        throw err;
      }
      committed = true;
      if (previous?.isFile() && previous.ino !== st.ino) {
        await unlink(FsObjectStore.metaPathOf(file, previous.ino)).catch(() => {});
      }
      if (this.fsync) await this.syncDir(dir);
      return { key, size, etag, contentType, lastModified: st.mtime };
    } catch (err) {
      // After the commit only the durability steps can fail; the object and its sidecar stay.
      if (committed) throw err;
      await Promise.all(
        [dataTmp, metaTmp, metaFile].map((f) => (f === undefined ? undefined : unlink(f).catch(() => {}))),
      );
      throw err;
    }
  }

  /**
   * Creates the key's folder and opens a new temp file in it. Retried because a concurrent `delete` may
   * prune the (then empty) folder between the mkdir and the open.
   */
  private async createTempFile(key: string, dir: string): Promise<{ tmp: string; fh: FileHandle }> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true });
        const tmp = FsObjectStore.tempPathIn(dir);
        return { tmp, fh: await open(tmp, 'wx') };
      } catch (err) {
        const code = errno(err);
        if (code === 'ENOTDIR' || code === 'EEXIST') {
          throw new InvalidObjectKeyError(key, 'a parent path is already an object', { cause: err });
        }
        if (code !== 'ENOENT' || attempt >= 5) throw err;
      }
    }
  }

  private async writeFileDurably(file: string, content: string): Promise<void> {
    const fh = await open(file, 'wx');
    try {
      await fh.writeFile(content, 'utf8');
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
  }

  private async syncDir(dir: string): Promise<void> {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.pathOf(key);
    if (range) assertValidRange(range);
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      throw this.translate(key, err);
    }
    try {
      // open() succeeds on a folder; a folder is a prefix, not an object.
      if (!(await fh.stat()).isFile()) throw new ObjectNotFoundError(key);
    } catch (err) {
      await fh.close();
      throw err;
    }
    // The stream owns the handle (autoClose), so an overwrite during the read is harmless: the handle
    // keeps the old version's inode.
    return fh.createReadStream({ start: range?.start, end: range?.end });
  }

  async getBuffer(key: string): Promise<Buffer> {
    const file = this.pathOf(key);
    try {
      return await readFile(file);
    } catch (err) {
      throw this.translate(key, err);
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    const file = this.pathOf(key);
    let st: Stats;
    try {
      st = await stat(file);
    } catch (err) {
      throw this.translate(key, err);
    }
    if (!st.isFile()) throw new ObjectNotFoundError(key);
    const sidecar = await this.readSidecar(FsObjectStore.metaPathOf(file, st.ino));
    // No sidecar: a crash between writing the object and its sidecar, or a file placed by hand.
    const current = sidecar?.size === st.size ? sidecar : undefined;
    return {
      key,
      size: st.size,
      etag: current?.etag,
      contentType: current?.contentType ?? DEFAULT_CONTENT_TYPE,
      lastModified: st.mtime,
    };
  }

  private async readSidecar(metaFile: string): Promise<Sidecar | undefined> {
    try {
      const parsed = JSON.parse(await readFile(metaFile, 'utf8')) as Sidecar;
      return parsed?.v === 1 ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.stat(key);
      return true;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return false;
      throw err;
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix);
    const pageSize = normalizePageSize(opts.pageSize, MAX_LIST_PAGE_SIZE);
    const startAfter = opts.token ? decodeListToken(opts.token) : '';
    const items: ObjectInfo[] = [];
    const slash = prefix.lastIndexOf('/');
    const dirKey = prefix.slice(0, slash + 1);
    const walker = this.walk(path.join(this.root, ...dirKey.split('/')), dirKey, prefix, startAfter);
    for await (const info of walker) {
      if (items.length === pageSize) {
        // One more object exists beyond this page.
        await walker.return(undefined);
        return { items, nextToken: encodeListToken(items[items.length - 1].key) };
      }
      items.push(info);
    }
    return { items, nextToken: null };
  }

  /**
   * Depth-first walk in key order. Sorting a folder's entries with `/` appended to subfolder names makes
   * the walk visit keys in the same byte-wise order S3 lists them (`a.txt` < `a/x` < `a0`). Subtrees
   * entirely outside `prefix` or at or before `startAfter` are skipped without being read.
   */
  private async *walk(
    dir: string,
    dirKey: string,
    prefix: string,
    startAfter: string,
  ): AsyncGenerator<ObjectInfo> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (NOT_FOUND_CODES.has(errno(err) ?? '')) return;
      throw err;
    }
    const visible = entries
      .filter((e) => !e.name.startsWith(RESERVED_SEGMENT_PREFIX) && (e.isFile() || e.isDirectory()))
      .map((e) => ({ entry: e, key: dirKey + e.name + (e.isDirectory() ? '/' : '') }))
      .sort((a, b) => compareKeys(a.key, b.key));
    for (const { entry, key } of visible) {
      if (entry.isDirectory()) {
        const inPrefix = key.startsWith(prefix) || prefix.startsWith(key);
        const allBeforeStart =
          startAfter !== '' && compareKeys(key, startAfter) < 0 && !startAfter.startsWith(key);
        if (inPrefix && !allBeforeStart)
          yield* this.walk(path.join(dir, entry.name), key, prefix, startAfter);
        continue;
      }
      if (!key.startsWith(prefix) || (startAfter !== '' && compareKeys(key, startAfter) <= 0)) continue;
      try {
        const st = await stat(path.join(dir, entry.name));
        yield { key, size: st.size, lastModified: st.mtime };
      } catch (err) {
        // Deleted since the readdir: not part of the listing.
        if (!NOT_FOUND_CODES.has(errno(err) ?? '')) throw err;
      }
    }
  }

  async *listAll(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | null = null;
    do {
      const page: ListPage = await this.list(prefix, { token });
      yield* page.items;
      token = page.nextToken;
    } while (token !== null);
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    let st: Stats;
    try {
      st = await stat(file);
    } catch (err) {
      if (NOT_FOUND_CODES.has(errno(err) ?? '')) return;
      throw err;
    }
    // A folder at the key is a prefix of other objects, not an object: nothing to delete.
    if (!st.isFile()) return;
    for (const target of [file, FsObjectStore.metaPathOf(file, st.ino)]) {
      try {
        await unlink(target);
      } catch (err) {
        if (!NOT_FOUND_CODES.has(errno(err) ?? '')) throw err;
      }
    }
    await this.pruneEmptyParents(path.dirname(file));
  }

  /** Removes now-empty folders up to (not including) the root, so deleted prefixes leave no trace. */
  private async pruneEmptyParents(dir: string): Promise<void> {
    for (let current = dir; current.startsWith(this.root + path.sep); current = path.dirname(current)) {
      try {
        await rmdir(current);
      } catch {
        // Not empty (or already gone, or a concurrent put recreated it): stop here.
        return;
      }
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    let token: string | null = null;
    do {
      const page: ListPage = await this.list(prefix, { token });
      // Small batches keep the number of open file operations modest.
      for (let i = 0; i < page.items.length; i += 32) {
        await Promise.all(page.items.slice(i, i + 32).map((item) => this.delete(item.key)));
      }
      deleted += page.items.length;
      token = page.nextToken;
    } while (token !== null);
    return deleted;
  }

  async close(): Promise<void> {}

  private translate(key: string, err: unknown): unknown {
    return NOT_FOUND_CODES.has(errno(err) ?? '') ? new ObjectNotFoundError(key, { cause: err }) : err;
  }
}
