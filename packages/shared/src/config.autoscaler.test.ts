import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

describe('loadConfig: autoscaler settings', () => {
  it('defaults to the static actuator, pools 0..4 (cpu) and 0..2 (gpu), both Deployments', () => {
    const a = loadConfig({}).autoscaler;
    expect(a).toEqual({
      actuator: 'static',
      intervalMs: 2000,
      pools: { cpu: { min: 0, max: 4 }, gpu: { min: 0, max: 2 } },
      targetDrainMs: 300_000,
      scaleDownCooldownMs: 60_000,
      defaultFilesPerMachineSecond: 4,
      k8sNamespace: null,
      k8sDeployments: { cpu: 'worker-cpu', gpu: 'worker-gpu' },
    });
  });

  it('compiles units and reads the pool limits and Deployments', () => {
    const a = loadConfig({
      VB_AUTOSCALER: 'kubernetes',
      VB_POOL_CPU_MIN: '1',
      VB_POOL_CPU_MAX: '10',
      VB_AUTOSCALER_COOLDOWN_S: '2.5',
      VB_AUTOSCALER_TARGET_DRAIN_S: '60',
      VB_K8S_NAMESPACE: 'vb',
      VB_K8S_DEPLOYMENTS: 'cpu:workers',
    }).autoscaler;
    expect(a).toMatchObject({
      actuator: 'kubernetes',
      pools: { cpu: { min: 1, max: 10 } },
      scaleDownCooldownMs: 2500,
      targetDrainMs: 60_000,
      k8sNamespace: 'vb',
      k8sDeployments: { cpu: 'workers', gpu: null },
    });
  });

  it('names the offending variable', () => {
    expect(() => loadConfig({ VB_AUTOSCALER: 'hpa' })).toThrow(
      /VB_AUTOSCALER: must be one of static, local, kubernetes/,
    );
    expect(() => loadConfig({ VB_POOL_CPU_MIN: '5', VB_POOL_CPU_MAX: '2' })).toThrow(/VB_POOL_CPU_MIN/);
    expect(() => loadConfig({ VB_K8S_DEPLOYMENTS: 'tpu:x' })).toThrow(
      /VB_K8S_DEPLOYMENTS: unknown pool "tpu"/,
    );
    expect(() => loadConfig({ VB_AUTOSCALER_TARGET_DRAIN_S: '0' })).toThrow(/VB_AUTOSCALER_TARGET_DRAIN_S/);
  });
});
