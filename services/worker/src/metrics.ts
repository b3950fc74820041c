import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The worker's metrics (see the README's catalogue). */
export function workerMetrics(registry: Registry) {
  return {
    tasks: new Counter({
      name: 'vb_tasks_total',
      help: 'Tasks finished by stage and outcome',
      labelNames: ['stage', 'outcome'],
      registers: [registry],
    }),
    files: new Counter({
      name: 'vb_files_processed_total',
      help: 'Input files processed by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    taskSeconds: new Histogram({
      name: 'vb_task_duration_seconds',
      help: 'Task wall time by stage',
      labelNames: ['stage'],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
    modelLoad: new Histogram({
      name: 'vb_model_load_seconds',
      help: "Time a slot took to load its lease's models (on its first task that needs them)",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [registry],
    }),
    leases: new Gauge({
      name: 'vb_worker_lease_active',
      help: '1 while this machine holds a job lease',
      registers: [registry],
    }),
  };
}
export type WorkerMetrics = ReturnType<typeof workerMetrics>;
