/** Secrets and connection settings of loadConfig: set-but-empty and placeholder values stop the process. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

const refusal = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (err) {
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
};

describe('secrets', () => {
  it.each([
    ['VB_API_KEYS', ''],
    ['VB_API_KEYS', '   '],
    ['VB_API_KEYS', 'CHANGE-ME-api-key:demo'],
    ['VB_API_KEYS', 'real_key:demo,changeme:other'],
    ['VB_URL_SIGNING_SECRET', ''],
    ['VB_URL_SIGNING_SECRET', 'CHANGE-ME-url-signing-secret-at-least-32-bytes'],
    ['VB_URL_SIGNING_SECRET', '<your signing secret>'],
    ['VB_REDIS_PASSWORD', ''],
    ['VB_REDIS_PASSWORD', 'change_me'],
    ['VB_REDIS_SENTINEL_PASSWORD', 'PLACEHOLDER'],
  ])('%s=%j is refused with a message naming it and not the value', (name, value) => {
    const err = refusal({ [name]: value });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.variable).toBe(name);
    expect(err.message).toMatch(new RegExp(`^${name}: `));
    if (value.trim()) expect(err.message).not.toContain(value);
  });

  it('refuses placeholder S3 credentials and a placeholder password inside VB_REDIS_URL', () => {
    const s3 = { VB_STORE_DRIVER: 's3', VB_S3_ENDPOINT: 'https://s3.amazonaws.com' };
    expect(refusal({ ...s3, VB_S3_SECRET_KEY: 'CHANGE-ME-s3-secret-key' }).variable).toBe('VB_S3_SECRET_KEY');
    expect(refusal({ ...s3, VB_S3_ACCESS_KEY: '' }).variable).toBe('VB_S3_ACCESS_KEY');
    const err = refusal({ VB_REDIS_URL: 'redis://:CHANGE-ME@redis:6379' });
    expect(err.variable).toBe('VB_REDIS_URL');
    expect(err.message).not.toContain('CHANGE-ME@');
  });

  it('keeps the development key only while VB_API_KEYS is unset', () => {
    expect([...loadConfig({}).api.keys]).toEqual([['vb_dev_key', 'demo']]);
    expect([...loadConfig({ VB_API_KEYS: 'k1:ws1' }).api.keys]).toEqual([['k1', 'ws1']]);
    expect(loadConfig({ VB_URL_SIGNING_SECRET: 's'.repeat(40) }).api.urlSigningSecret).toBe('s'.repeat(40));
    expect(loadConfig({}).api.urlSigningSecret).toBeNull();
  });
});

describe('Redis connection settings', () => {
  it('defaults to the local stack and takes password, CA and Sentinels from the environment', () => {
    expect(loadConfig({ VB_REDIS_PORT: '6390' }).redis).toEqual({
      url: 'redis://127.0.0.1:6390',
      password: null,
      tlsCaFile: null,
      sentinels: [],
      sentinelMaster: 'mymaster',
      sentinelPassword: null,
    });
    const c = loadConfig({
      VB_REDIS_URL: 'rediss://redis.internal:6380/2',
      VB_REDIS_PASSWORD: 'pw',
      VB_REDIS_TLS_CA: '/etc/vb/redis-ca/ca.crt',
      VB_REDIS_SENTINELS: 'sentinel-0:26379, [::1]:26380',
      VB_REDIS_SENTINEL_MASTER: 'vb',
      VB_REDIS_SENTINEL_PASSWORD: 'spw',
    }).redis;
    expect(c).toEqual({
      url: 'rediss://redis.internal:6380/2',
      password: 'pw',
      tlsCaFile: '/etc/vb/redis-ca/ca.crt',
      sentinels: [
        { host: 'sentinel-0', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      sentinelMaster: 'vb',
      sentinelPassword: 'spw',
    });
  });

  it('refuses a URL that is not Redis, a non-numeric database and a malformed Sentinel list, without echoing the URL', () => {
    expect(refusal({ VB_REDIS_URL: 'http://redis:6379' }).variable).toBe('VB_REDIS_URL');
    expect(refusal({ VB_REDIS_URL: 'redis://redis:6379/queues' }).variable).toBe('VB_REDIS_URL');
    expect(refusal({ VB_REDIS_SENTINELS: 'sentinel-0' }).variable).toBe('VB_REDIS_SENTINELS');
    const err = refusal({ VB_REDIS_URL: 'redis://:s3cret@ bad host' });
    expect(err.variable).toBe('VB_REDIS_URL');
    expect(err.message).not.toContain('s3cret');
  });
});

describe('VB_WORKER_CPU_REQUEST', () => {
  it.each([
    ['2', 2],
    ['1.5', 1.5],
    ['1500m', 1.5],
    ['250m', 0.25],
  ])('%s is %d CPUs', (value, cpus) => {
    expect(loadConfig({ VB_WORKER_CPU_REQUEST: value }).worker.cpus).toBe(cpus);
  });

  it('is null when unset and refuses what is not a CPU quantity', () => {
    expect(loadConfig({}).worker.cpus).toBeNull();
    for (const bad of ['0', 'two', '2Gi', '-1'])
      expect(refusal({ VB_WORKER_CPU_REQUEST: bad }).variable).toBe('VB_WORKER_CPU_REQUEST');
  });
});
