import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { CliError } from './cli-error.ts';

/** An archive refused because a member could escape or is not a plain file or directory. */
export class UnsafeArchiveError extends CliError {
  constructor(archive: string, member: string, reason: string) {
    super(`refusing to unpack ${path.basename(archive)}: member ${JSON.stringify(member)} ${reason}`);
    this.name = 'UnsafeArchiveError';
  }
}

/** Entry types we unpack; everything else (links, devices, fifos, unknown) refuses the archive. */
const ALLOWED_TYPES = new Set(['file', 'contiguous-file', 'directory']);

/**
 * The safe relative path of a tar member, or the reason it is refused: only regular files and
 * directories, relative names without `..`, backslashes, drive letters or NUL (the rules of
 * Python's `data` extraction filter, which the spec §5.8 asks archives to satisfy). Returns `''`
 * for the archive root (`./`), which is skipped.
 */
export function checkMember(
  name: string,
  type: string | null | undefined,
): { ok: true; rel: string } | { ok: false; reason: string } {
  if (!type || !ALLOWED_TYPES.has(type))
    return { ok: false, reason: `is a ${type ?? 'unknown entry type'}, not a regular file or directory` };
  if (name.includes('\0')) return { ok: false, reason: 'contains a NUL byte' };
  if (name.includes('\\')) return { ok: false, reason: 'contains a backslash' };
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return { ok: false, reason: 'is an absolute path' };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { ok: false, reason: 'contains ".."' };
  const rel = parts.join('/');
  if (!rel && type !== 'directory') return { ok: false, reason: 'has an empty name' };
  return { ok: true, rel };
}

/** Opens an archive, gunzipping when it starts with the gzip magic (transparent compression detection). */
async function openArchive(file: string): Promise<Readable> {
  const fh = await open(file, 'r');
  const magic = Buffer.alloc(2);
  try {
    await fh.read(magic, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(file);
  if (magic[0] === 0x1f && magic[1] === 0x8b) {
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    return raw.pipe(gunzip);
  }
  return raw;
}

type EntryHandler = (header: tar.Header, stream: Readable) => Promise<void>;

async function walk(file: string, onEntry: EntryHandler): Promise<void> {
  const extract = tar.extract();
  const source = await openArchive(file);
  const consumer = (async () => {
    for await (const entry of extract) {
      await onEntry(entry.header, entry as unknown as Readable);
      entry.resume();
    }
  })();
  const [piped, consumed] = await Promise.allSettled([pipeline(source, extract), consumer]);
  // The consumer's error (an unsafe member) explains more than the "premature close" it causes.
  const failure =
    consumed.status === 'rejected' ? consumed.reason : piped.status === 'rejected' ? piped.reason : null;
  if (failure) {
    source.destroy();
    if (failure instanceof CliError) throw failure;
    throw new CliError(`cannot read archive ${path.basename(file)}: ${(failure as Error).message}`, {
      cause: failure,
    });
  }
}

/** Refuses when `dest` or a folder between `root` and it is an existing symlink (a planted escape). */
async function assertNoSymlink(root: string, dest: string, archive: string, member: string): Promise<void> {
  const rel = path.relative(root, dest).split(path.sep);
  let cur = root;
  for (const p of rel) {
    cur = path.join(cur, p);
    try {
      if ((await lstat(cur)).isSymbolicLink())
        throw new UnsafeArchiveError(archive, member, `would be written through the symlink ${cur}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
  }
}

/**
 * Unpacks a `.tar` or `.tar.gz` into `targetDir`, refusing the whole archive (before writing
 * anything) when any member is unsafe (see {@link checkMember}). Files are written with mode 0644,
 * folders 0755; no owners, times or special bits are restored. Returns the written file paths
 * (relative to `targetDir`).
 */
export async function extractTarSafely(archive: string, targetDir: string): Promise<string[]> {
  // Pass 1: check every header, so a bad member late in the archive leaves nothing behind.
  await walk(archive, async (h) => {
    const c = checkMember(h.name, h.type);
    if (!c.ok) throw new UnsafeArchiveError(archive, h.name, c.reason);
  });
  // Pass 2: write (checking again: the file could have changed between passes).
  const root = path.resolve(targetDir);
  await mkdir(root, { recursive: true });
  const written: string[] = [];
  await walk(archive, async (h, stream) => {
    const c = checkMember(h.name, h.type);
    if (!c.ok) throw new UnsafeArchiveError(archive, h.name, c.reason);
    if (!c.rel) return;
    const dest = path.resolve(root, c.rel);
    if (!dest.startsWith(root + path.sep))
      throw new UnsafeArchiveError(archive, h.name, 'resolves outside the target folder');
    await assertNoSymlink(root, dest, archive, h.name);
    if (h.type === 'directory') {
      await mkdir(dest, { recursive: true, mode: 0o755 });
      return;
    }
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
    await pipeline(stream, createWriteStream(dest, { mode: 0o644 }));
    written.push(c.rel);
  });
  return written;
}
