import type { ParametersOverride, WorkflowProcessingJob } from './wire/batch-processing.ts';

/** The job definition with every restart override applied, oldest first (spec §3.8). */
export function effectiveDefinition(
  def: WorkflowProcessingJob,
  overrides: ParametersOverride[],
): WorkflowProcessingJob {
  let out: WorkflowProcessingJob = structuredClone(def);
  for (const o of overrides) {
    out = {
      ...out,
      computeConfiguration: {
        ...out.computeConfiguration,
        ...(o.computeConfiguration?.machineType ? { machineType: o.computeConfiguration.machineType } : {}),
        ...(o.computeConfiguration?.workersPerMachine
          ? { workersPerMachine: o.computeConfiguration.workersPerMachine }
          : {}),
      },
      ...(o.maxParallelTasks !== undefined ? { maxParallelTasks: o.maxParallelTasks } : {}),
      ...(o.processingTimeoutSeconds !== undefined
        ? { processingTimeoutSeconds: Math.ceil(o.processingTimeoutSeconds) }
        : {}),
      ...(o.maxImageFailureRate !== undefined ? { maxImageFailureRate: o.maxImageFailureRate } : {}),
    };
  }
  return out;
}

export const machineTypeOf = (def: WorkflowProcessingJob): 'cpu' | 'gpu' =>
  def.computeConfiguration.machineType ?? 'cpu';

/** Task slots per machine (spec §3.4 [I]: default 4 for cpu, 1 for gpu). */
export const workersPerMachineOf = (def: WorkflowProcessingJob): number =>
  def.computeConfiguration.workersPerMachine ?? (machineTypeOf(def) === 'gpu' ? 1 : 4);
