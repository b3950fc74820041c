import fs from 'node:fs';
import { CONFIG_SPEC, ConfigError, loadConfig } from '@visionbatch/shared/config';
import { describe, expect, it } from 'vitest';
import { configTable, replaceConfigTable } from '../scripts/env-table-format.ts';

describe('configuration and its documentation', () => {
  const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');

  it('documents every environment variable in the README', () => {
    for (const e of CONFIG_SPEC) expect(readme, e.name).toContain(`\`${e.name}\``);
  });

  it("has the configuration table of CONFIG_SPEC, as written by 'npm run docs:env'", () => {
    expect(replaceConfigTable(readme, configTable(CONFIG_SPEC))).toBe(readme);
  });

  it('names the offending variable when a value is bad', () => {
    expect(() => loadConfig({ VB_API_PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ VB_API_PORT: 'eighty' })).toThrow(/VB_API_PORT/);
    expect(() => loadConfig({ VB_STORE_DRIVER: 'tape' })).toThrow(/VB_STORE_DRIVER/);
    expect(() => loadConfig({ VB_STORE_DRIVER: 's3' })).toThrow(/VB_S3_ENDPOINT/);
    expect(() => loadConfig({ VB_API_KEYS: 'novalue' })).toThrow(/VB_API_KEYS/);
  });

  it('applies defaults and returns a frozen object', () => {
    const c = loadConfig({});
    expect(c.api.port).toBe(8080);
    expect(c.api.keys.get('vb_dev_key')).toBe('demo');
    expect(c.limits.batchTtlMs).toBe(7 * 24 * 3600 * 1000);
    expect(Object.isFrozen(c.api)).toBe(true);
  });
});
