/**
 * vitest `globalSetup`: starts one Redis and one S3-compatible server for the whole test run, in
 * containers when a container runtime is reachable, otherwise as local processes (redis-server, s3rver).
 * Tests reach them through `inject('vbRedis')` / `inject('vbS3')` (see `helpers.ts`) or the `VB_TEST_*`
 * environment variables set below, which the worker processes inherit.
 *
 * `VB_TEST_INFRA=auto|containers|local` (default `auto`) forces one way or the other.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as Testcontainers from 'testcontainers';
import type { TestProject } from 'vitest/node';
import { startContainerServers } from './container-servers.ts';
import type { StartedServers } from './context.ts';
import { startLocalServers } from './local-servers.ts';

type InfraMode = 'auto' | 'containers' | 'local';

function infraMode(): InfraMode {
  const value = process.env.VB_TEST_INFRA ?? 'auto';
  if (value === 'auto' || value === 'containers' || value === 'local') return value;
  throw new Error(`VB_TEST_INFRA must be auto, containers or local, got ${JSON.stringify(value)}`);
}

/** Places where testcontainers would find a runtime; if none exists, skip importing it at all. */
function mayHaveContainerRuntime(): boolean {
  if (process.env.DOCKER_HOST || process.env.TESTCONTAINERS_HOST_OVERRIDE) return true;
  const home = os.homedir();
  const candidates = [
    '/var/run/docker.sock',
    path.join(home, '.testcontainers.properties'),
    path.join(home, '.docker', 'run', 'docker.sock'),
    process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'docker.sock') : '',
  ];
  return candidates.some((file) => file !== '' && existsSync(file));
}

/**
 * testcontainers when a runtime answers, else `null`. The import is dynamic and guarded: testcontainers
 * 12 crashes on import under Node 20 (undici 8), which must count as "no runtime", not fail the run.
 */
async function containerRuntime(): Promise<typeof Testcontainers | null> {
  if (!mayHaveContainerRuntime()) return null;
  try {
    const tc = await import('testcontainers');
    await tc.getContainerRuntimeClient();
    return tc;
  } catch {
    return null;
  }
}

async function startServers(mode: InfraMode): Promise<StartedServers> {
  if (mode === 'local') return startLocalServers();
  const tc = await containerRuntime();
  if (tc) return startContainerServers(tc);
  if (mode === 'containers') {
    throw new Error('VB_TEST_INFRA=containers but no container runtime answered (is Docker running?)');
  }
  return startLocalServers();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const servers = await startServers(infraMode());
  project.provide('vbRedis', servers.redis);
  project.provide('vbS3', servers.s3);
  const env = {
    VB_TEST_REDIS_URL: servers.redis.url,
    VB_TEST_S3_ENDPOINT: servers.s3.endPoint,
    VB_TEST_S3_ACCESS_KEY: servers.s3.accessKey,
    VB_TEST_S3_SECRET_KEY: servers.s3.secretKey,
    VB_TEST_S3_REGION: servers.s3.region,
    VB_TEST_S3_FLAVOUR: servers.s3.flavour,
  };
  Object.assign(process.env, env);
  return async () => {
    await servers.stop();
    for (const name of Object.keys(env)) delete process.env[name];
  };
}
