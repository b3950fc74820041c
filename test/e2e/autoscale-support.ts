/** Helpers for stacks whose workers are started by the scheduler's local autoscaler (VB_AUTOSCALER=local). */
import { startStack } from './e2e-support.ts';
import type { Stack } from './stack.ts';

/**
 * A local autoscaler that reacts within a second: pool cpu from 0 to `max`, a short drain target (so a
 * modest backlog asks for several machines) and a short cooldown (so the pool is back to 0 soon after).
 */
export function autoscaleLocalEnv(max = 3, cooldownS = 3): Record<string, string> {
  return {
    VB_AUTOSCALER: 'local',
    VB_AUTOSCALER_INTERVAL_MS: '300',
    VB_POOL_CPU_MIN: '0',
    VB_POOL_CPU_MAX: String(max),
    VB_POOL_GPU_MIN: '0',
    VB_POOL_GPU_MAX: '0',
    VB_AUTOSCALER_COOLDOWN_S: String(cooldownS),
    VB_AUTOSCALER_TARGET_DRAIN_S: '1',
    VB_AUTOSCALER_FILES_PER_MACHINE_S: '1',
  };
}

/** api + scheduler with the local autoscaler and no worker: the scheduler starts the machines. */
export function startAutoscaledStack(
  redisUrl: string,
  dataDir: string,
  extraEnv: Record<string, string> = {},
): Promise<Stack> {
  return startStack(redisUrl, dataDir, { ...autoscaleLocalEnv(), ...extraEnv }, 0);
}

/** Scheduler pool gauges from its /metrics, by pool. */
export interface PoolGauges {
  /** vb_pool_desired_machines: what the policy wants */
  desired: number;
  /** vb_pool_target_machines: what the actuator has set (local child processes) */
  target: number;
  /** vb_pool_machines: machines that registered with the scheduler recently */
  live: number;
}

/** Reads the pool gauges of the scheduler's /metrics. */
export async function poolGauges(stack: Stack, pool: 'cpu' | 'gpu' = 'cpu'): Promise<PoolGauges> {
  const res = await fetch(`http://127.0.0.1:${stack.env.VB_SCHEDULER_HTTP_PORT}/metrics`);
  const text = await res.text();
  const read = (name: string) => {
    const m = text.match(new RegExp(`^${name}\\{[^}]*pool="${pool}"[^}]*\\} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : Number.NaN;
  };
  return {
    desired: read('vb_pool_desired_machines'),
    target: read('vb_pool_target_machines'),
    live: read('vb_pool_machines'),
  };
}

/** Samples the pool gauges every `everyMs` until stopped; keeps the maxima and the trace. */
export function samplePoolGauges(stack: Stack, pool: 'cpu' | 'gpu' = 'cpu', everyMs = 200) {
  const trace: PoolGauges[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const g = await poolGauges(stack, pool).catch(() => null);
      if (g) trace.push(g);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    trace,
    max: (k: keyof PoolGauges) => Math.max(0, ...trace.map((g) => g[k]).filter((v) => !Number.isNaN(v))),
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}
