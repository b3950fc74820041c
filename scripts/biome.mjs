#!/usr/bin/env node
// Runs Biome's native binary. The `@biomejs/biome` wrapper cannot be locked here: its optional
// per-platform packages other than linux are missing from the registry this project installs
// from, which breaks `npm ci`. So the linux-x64 binary is an optional dependency and this shim
// finds it (install `@biomejs/cli-<platform>-<arch>` by hand on other machines).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const pkg = `@biomejs/cli-${process.platform}-${process.arch}`;
let bin;
try {
  bin = path.join(
    path.dirname(require.resolve(`${pkg}/package.json`)),
    process.platform === 'win32' ? 'biome.exe' : 'biome',
  );
} catch {
  console.error(`Biome binary ${pkg} is not installed: npm install --no-save ${pkg}@2.6.8`);
  process.exit(2);
}
const r = spawnSync(bin, process.argv.slice(2), { stdio: 'inherit' });
process.exit(r.status ?? 1);
