#!/usr/bin/env node
// Runs before `npm test` and `npm run demo` (npm pre-scripts): both need redis-server (and the
// tests ffmpeg) from the OS; with `--browser` (the tests) also Debian's chromium, which the
// console's browser tests drive. On Debian/Ubuntu they are installed with apt-get when missing,
// as root or through passwordless sudo; otherwise this prints the command and fails.
// Set VB_SKIP_SYSTEM_DEPS=1 to skip the check.
import { execFileSync, spawnSync } from 'node:child_process';

if (process.env.VB_SKIP_SYSTEM_DEPS === '1') process.exit(0);
const wanted = { 'redis-server': 'redis-server', ffmpeg: 'ffmpeg' };
if (process.argv.includes('--browser')) wanted.chromium = 'chromium';
const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const missing = Object.entries(wanted)
  .filter(([bin]) => !has(bin))
  .map(([, pkg]) => pkg);
if (missing.length === 0) process.exit(0);

const install = `apt-get update && apt-get install -y ${missing.join(' ')}`;
const isRoot = process.getuid?.() === 0;
const sudoOk = !isRoot && has('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
if (!has('apt-get') || (!isRoot && !sudoOk)) {
  console.error(`visionbatch needs ${missing.join(' and ')}. Install with: sudo ${install}`);
  process.exit(1);
}
console.error(`installing ${missing.join(', ')} with apt-get ...`);
const run = (args) =>
  execFileSync(isRoot ? args[0] : 'sudo', isRoot ? args.slice(1) : args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
run(['apt-get', 'update', '-qq']);
run(['apt-get', 'install', '-y', '-qq', ...missing]);
console.error(`installed ${missing.join(', ')}`);
