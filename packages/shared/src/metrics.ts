import { collectDefaultMetrics, Registry } from 'prom-client';

/** One Prometheus registry per process, with the default process/nodejs metrics under `vb_`. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'vb_' });
  return registry;
}
