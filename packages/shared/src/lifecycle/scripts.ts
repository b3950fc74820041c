import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { transitionsAsLua } from './states.ts';

/**
 * The Redis scripts that make every state move (one file each under ./commands, as BullMQ keeps
 * its moves in src/commands). Job scripts (./commands/job) get a preamble: the transitions table of
 * states.ts, the job's key bundle and the shared fences and helpers.
 */

/** Number of keys in a job's key bundle (see `jobKeyBundle` in jobs-repo.ts and job/_preamble.lua). */
export const JOB_KEYS = 25;

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'commands');
const header = `local T = ${transitionsAsLua()}\nlocal JOB_KEYS = ${JOB_KEYS}\n`;
const jobPreamble = readFileSync(path.join(dir, 'job', '_preamble.lua'), 'utf8');

interface Script {
  lua: string;
  sha: string;
}

function load(file: string, preamble: string): Script {
  const lua = `${preamble}\n${readFileSync(file, 'utf8')}`;
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const scripts = new Map<string, Script>();
for (const f of readdirSync(path.join(dir, 'job')).filter((f) => f.endsWith('.lua') && !f.startsWith('_')))
  scripts.set(path.basename(f, '.lua'), load(path.join(dir, 'job', f), header + jobPreamble));
for (const f of readdirSync(dir).filter((f) => f.endsWith('.lua')))
  scripts.set(path.basename(f, '.lua'), load(path.join(dir, f), header));

export type ScriptName =
  | 'createJob'
  | 'beginPlan'
  | 'endPlan'
  | 'noteStage'
  | 'completeStage'
  | 'endJob'
  | 'restartJob'
  | 'taskStart'
  | 'taskProgress'
  | 'taskFinish'
  | 'appendLogs'
  | 'collectJob'
  | 'grantLease'
  | 'heartbeat'
  | 'closeLease'
  | 'leaderAcquire'
  | 'leaderRenew'
  | 'leaderRelease';

/**
 * Runs a script by its SHA (EVALSHA), loading it on a `NOSCRIPT` answer (a restarted or new Redis),
 * so the body crosses the network once per server rather than once per call.
 */
export async function runScript<T = unknown>(
  redis: Redis,
  name: ScriptName,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<T> {
  const s = scripts.get(name);
  if (!s) throw new Error(`no Redis script named ${name}`);
  try {
    return (await redis.evalsha(s.sha, keys.length, ...keys, ...args)) as T;
  } catch (err) {
    if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
    return (await redis.eval(s.lua, keys.length, ...keys, ...args)) as T;
  }
}
