import { Counter, collectDefaultMetrics, Registry } from 'prom-client';

/** One Prometheus registry per process, with the default process/nodejs metrics under `vb_`. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'vb_' });
  return registry;
}

/**
 * `vb_fenced_writes_total{kind,reason}`: moves refused because the writer was stale (an old epoch,
 * a lost task lock, a replica that no longer leads) or lost a race. Expected in small numbers after
 * aborts, restarts and crashes; a steady rise means a writer keeps working on what it no longer owns.
 */
export function fencedWritesCounter(registry: Registry): Counter<'kind' | 'reason'> {
  return new Counter({
    name: 'vb_fenced_writes_total',
    help: 'State moves refused by their fence (stale epoch, lost lock, not the leader) or lost races, by move and reason',
    labelNames: ['kind', 'reason'],
    registers: [registry],
  });
}
