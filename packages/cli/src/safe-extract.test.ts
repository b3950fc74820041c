import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkMember, extractTarSafely, UnsafeArchiveError } from './safe-extract.ts';

type Member = Partial<tar.Header> & { name: string; body?: string };

async function makeTar(file: string, members: Member[], gzip = false): Promise<string> {
  const pack = tar.pack();
  const out = createWriteStream(file);
  const done = gzip ? pipeline(pack, createGzip(), out) : pipeline(pack, out);
  for (const { body, ...h } of members) {
    await new Promise<void>((resolve, reject) =>
      pack.entry(h as tar.Header, body ?? '', (e) => (e ? reject(e) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return file;
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)));
  }
  return out.sort();
}

describe('checkMember', () => {
  it.each([
    ['a.txt', 'file', 'a.txt'],
    ['./dir/b.txt', 'file', 'dir/b.txt'],
    ['dir/', 'directory', 'dir'],
    ['./', 'directory', ''],
  ])('accepts %s', (name, type, rel) => {
    expect(checkMember(name, type)).toEqual({ ok: true, rel });
  });

  it.each([
    ['/etc/passwd', 'file', /absolute/],
    ['C:/x', 'file', /absolute/],
    ['../x', 'file', /\.\./],
    ['a/../../x', 'file', /\.\./],
    ['a\\..\\x', 'file', /backslash/],
    ['l', 'symlink', /symlink/],
    ['h', 'link', /link/],
    ['d', 'character-device', /character-device/],
    ['b', 'block-device', /block-device/],
    ['f', 'fifo', /fifo/],
    ['u', null, /unknown/],
  ])('refuses %s (%s)', (name, type, why) => {
    const c = checkMember(name, type);
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.reason).toMatch(why);
  });
});

describe('extractTarSafely', () => {
  let work: string;
  let target: string;
  beforeEach(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'vb-extract-'));
    target = path.join(work, 'out');
    await mkdir(target);
  });

  it('unpacks a .tar.gz of files and folders', async () => {
    const a = await makeTar(
      path.join(work, 'ok.tar.gz'),
      [
        { name: 'results/', type: 'directory' },
        { name: 'results/part-0.jsonl', body: '{"a":1}\n' },
        { name: './top.txt', body: 'top' },
      ],
      true,
    );
    expect((await extractTarSafely(a, target)).sort()).toEqual(['results/part-0.jsonl', 'top.txt']);
    expect(await readFile(path.join(target, 'results/part-0.jsonl'), 'utf8')).toBe('{"a":1}\n');
    expect(await readFile(path.join(target, 'top.txt'), 'utf8')).toBe('top');
  });

  it('detects gzip in a file named .tar', async () => {
    const a = await makeTar(path.join(work, 'really-gz.tar'), [{ name: 'x.txt', body: 'x' }], true);
    expect(await extractTarSafely(a, target)).toEqual(['x.txt']);
  });

  const malicious: [string, Member][] = [
    ['an absolute path', { name: '/tmp/vb-evil-abs.txt', body: 'evil' }],
    ['a .. path', { name: '../evil.txt', body: 'evil' }],
    ['a nested .. path', { name: 'ok/../../evil.txt', body: 'evil' }],
    ['a symlink', { name: 'link', type: 'symlink', linkname: '/etc/passwd' }],
    ['a hard link', { name: 'hard', type: 'link', linkname: 'good.txt' }],
    ['a character device', { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }],
    ['a fifo', { name: 'pipe', type: 'fifo' }],
  ];

  it.each(malicious)('refuses an archive with %s and writes nothing', async (_what, bad) => {
    const a = await makeTar(path.join(work, 'bad.tar'), [
      { name: 'good.txt', body: 'good' },
      bad,
      { name: 'after.txt', body: 'after' },
    ]);
    await expect(extractTarSafely(a, target)).rejects.toBeInstanceOf(UnsafeArchiveError);
    expect(await listTree(target)).toEqual([]);
    expect(await listTree(work)).toEqual(['bad.tar', 'out']);
  });

  it('refuses to write through a symlink planted in the target folder', async () => {
    const outside = path.join(work, 'outside');
    await mkdir(outside);
    await symlink(outside, path.join(target, 'sub'));
    const a = await makeTar(path.join(work, 'p.tar'), [{ name: 'sub/x.txt', body: 'x' }]);
    await expect(extractTarSafely(a, target)).rejects.toThrow(/symlink/);
    expect(await readdir(outside)).toEqual([]);
  });

  it('reports a corrupt archive as an error', async () => {
    const a = path.join(work, 'junk.tar.gz');
    await writeFile(a, Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5]));
    await expect(extractTarSafely(a, target)).rejects.toThrow(/cannot read archive/);
  });
});
