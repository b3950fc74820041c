import { jobProgress, readProgressFacts } from '@visionbatch/shared/job-progress';
import type { JobRecord } from '@visionbatch/shared/jobs-repo';
import { iso } from '@visionbatch/shared/time';
import type { ApiDeps } from './deps.ts';

/**
 * JobMetadata (§3.1) and, after every field Roboflow's client reads, visionbatch extensions it
 * ignores: `state` (the lifecycle state: tells an aborted job from a failed one), `computeUsage`
 * (machine time billed and its credits), `progress` (0..1) and `estimatedCompletion` (ISO time, or
 * null while unknown).
 */
export async function jobMetadata(
  deps: Pick<ApiDeps, 'jobs' | 'redis' | 'clock' | 'config'>,
  rec: JobRecord,
) {
  const credits = deps.config.scheduler.creditsPerHour;
  const [m, facts] = await Promise.all([
    deps.jobs.meter(rec.workspace, rec.jobId),
    readProgressFacts(deps.redis, rec, deps.clock.now()),
  ]);
  const { progress, estimatedCompletion } = jobProgress(facts);
  return {
    jobId: rec.jobId,
    name: rec.name,
    jobDefinition: rec.definition,
    currentStage: rec.currentStage,
    plannedStages: rec.plannedStages,
    error: rec.error,
    isTerminal: rec.isTerminal,
    lastNotification: rec.lastNotification,
    createdAt: iso(rec.createdAt),
    lastUpdate: iso(rec.lastUpdate),
    restartParametersOverride: rec.restartOverrides,
    state: rec.state,
    computeUsage: {
      cpuSeconds: m.cpuMs / 1000,
      gpuSeconds: m.gpuMs / 1000,
      credits: (m.cpuMs / 3_600_000) * credits.cpu + (m.gpuMs / 3_600_000) * credits.gpu,
    },
    progress,
    estimatedCompletion,
  };
}
