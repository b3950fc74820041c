import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { Asset } from './static-assets.ts';

/** The console's sources (Preact + TSX), bundled by esbuild. */
export const CONSOLE_ENTRY = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../console/src/main.tsx',
);

/** The built console: its hashed assets by file name, and the names of the entry's JS and CSS. */
export interface ConsoleBundle {
  assets: Map<string, Asset>;
  script: string;
  style: string | null;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * Bundles the console in memory: one minified ES module and its CSS, named by content hash so
 * they can be cached for good. Nothing is written to disk, so a fresh clone serves the console
 * without a build step; the api builds it once, on the first request for it (well under a second).
 */
export async function buildConsoleBundle(): Promise<ConsoleBundle> {
  const result = await esbuild.build({
    entryPoints: [CONSOLE_ENTRY],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: '/console-out',
    entryNames: '[name]-[hash]',
    logLevel: 'silent',
    legalComments: 'none',
  });
  const assets = new Map<string, Asset>();
  let script = '';
  let style: string | null = null;
  for (const f of result.outputFiles) {
    const name = path.basename(f.path);
    const ext = path.extname(name);
    assets.set(name, {
      body: Buffer.from(f.contents),
      type: TYPES[ext] ?? 'application/octet-stream',
      immutable: true,
    });
    if (ext === '.js') script = name;
    if (ext === '.css') style = name;
  }
  // esbuild keeps a service process for later builds; the console is built once.
  await esbuild.stop();
  return { assets, script, style };
}
