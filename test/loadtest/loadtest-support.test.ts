/** The load test's measuring parts: reading pool gauges from /metrics, latency quantiles, the timeline. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiPollers } from '../../loadtest/pollers.ts';
import { gaugeValue, PoolSampler } from '../../loadtest/pool-sampler.ts';
import { waitFor } from '../support/helpers.ts';

const EXPOSITION = `# HELP vb_pool_machines live worker machines per pool
# TYPE vb_pool_machines gauge
vb_pool_machines{pool="cpu"} 3
vb_pool_machines{pool="gpu"} 0
vb_pool_desired_machines{pool="cpu"} 4
vb_pool_machines_total{pool="cpu"} 99
`;

describe('load test support', () => {
  let server: http.Server;
  let url = '';
  let machines = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url?.startsWith('/metrics'))
        return res.end(
          `vb_pool_machines{pool="cpu"} ${machines}\nvb_pool_desired_machines{pool="cpu"} ${machines + 1}\n`,
        );
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ job: { isTerminal: req.url?.includes('done'), error: false } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads a labelled gauge and ignores look-alike names and other labels', () => {
    expect(gaugeValue(EXPOSITION, 'vb_pool_machines', 'cpu')).toBe(3);
    expect(gaugeValue(EXPOSITION, 'vb_pool_machines', 'gpu')).toBe(0);
    expect(gaugeValue(EXPOSITION, 'vb_pool_desired_machines', 'cpu')).toBe(4);
    expect(gaugeValue(EXPOSITION, 'vb_pool_desired_machines', 'gpu')).toBeNull();
  });

  it('samples the pool over time and keeps only the changes', async () => {
    const sampler = new PoolSampler(`${url}/metrics`, 'cpu', 20);
    sampler.start();
    await waitFor(() => sampler.timeline().length >= 3, { timeoutMs: 5000 });
    machines = 2;
    await waitFor(() => sampler.latest()?.machines === 2, { timeoutMs: 5000 });
    machines = 0;
    await waitFor(() => sampler.latest()?.machines === 0 && sampler.timeline().length > 6, {
      timeoutMs: 5000,
    });
    sampler.stop();
    const compact = sampler.compactTimeline().map((s) => [s.machines, s.desired]);
    expect(compact.slice(0, 3)).toEqual([
      [0, 1],
      [2, 3],
      [0, 1],
    ]);
  });

  it('polls concurrently, records every latency, notices terminal jobs, computes nearest-rank quantiles', async () => {
    const p = new ApiPollers(url, 'k', 'ws');
    p.start(['job-done', 'job-running'], 4, 5);
    await waitFor(() => p.terminalCount() === 1 && p.requests >= 20, { timeoutMs: 5000 });
    await p.stop();
    expect(p.terminalAt('job-done')).not.toBeNull();
    expect(p.terminalAt('job-running')).toBeNull();
    expect(p.succeeded()).toEqual(['job-done']);
    expect(p.latenciesMs.length).toBe(p.requests);
    p.latenciesMs.splice(0, p.latenciesMs.length, ...Array.from({ length: 100 }, (_, i) => 100 - i));
    expect(p.percentile(0.5)).toBe(50);
    expect(p.percentile(0.99)).toBe(99);
    expect(p.percentile(1)).toBe(100);
  });
});
