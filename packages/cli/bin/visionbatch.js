#!/usr/bin/env node
// Runs the TypeScript sources directly (the repository has no build step). `npm install -g .` links
// the checkout, so its dependencies must be installed there (`npm ci`); say so instead of a stack trace.
import { fileURLToPath } from 'node:url';

let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  process.stderr.write(`visionbatch: the dependencies of ${root} are not installed; run \`npm ci\` there.\n`);
  process.exit(1);
}
register();
await import('../src/main.ts');
