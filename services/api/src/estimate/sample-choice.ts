import type { JobSample } from '@visionbatch/shared/jobs-repo';
import { keys } from '@visionbatch/shared/redis-keys';
import type { Redis } from 'ioredis';

/** Videos an estimate has probed (the sample's among them), to count the frames of the batch. */
export const PROBED_VIDEOS = 16;

/** `k` positions spread evenly over `n` (the middle of each of k equal slices), in order. */
export function spreadIndices(n: number, k: number): number[] {
  const m = Math.min(n, Math.max(0, k));
  return Array.from({ length: m }, (_, j) => Math.floor(((j + 0.5) * n) / m));
}

/**
 * The files a cost estimate runs: images spread evenly over the batch (its file list is ordered by
 * name, so the sample is not the first files uploaded), or the video in the middle of the list, of
 * which the sample job runs the first `videoSeconds`; it also probes up to {@link PROBED_VIDEOS}
 * videos spread over the batch. Each name is read by its rank in the list: no listing of the batch.
 */
export async function chooseSample(
  redis: Redis,
  ws: string,
  input: { batchId: string; part: string },
  o: { video: boolean; files: number; total: number; videoSeconds: number; maxParallelTasks: number | null },
): Promise<JobSample> {
  const key = keys.batchFiles(ws, input.batchId, input.part);
  const at = async (ranks: number[]) => {
    const p = redis.pipeline();
    for (const r of ranks) p.zrange(key, String(r), String(r));
    return ((await p.exec()) ?? []).flatMap(([err, v]) => (err ? [] : (v as string[])));
  };
  if (!o.video)
    return {
      files: await at(spreadIndices(o.total, o.files)),
      videoSeconds: null,
      probe: [],
      maxParallelTasks: o.maxParallelTasks,
    };
  const [middle] = await at([Math.floor(o.total / 2)]);
  const probe = await at(spreadIndices(o.total, PROBED_VIDEOS));
  return {
    files: [middle],
    videoSeconds: o.videoSeconds,
    probe: [middle, ...probe.filter((p) => p !== middle)],
    maxParallelTasks: o.maxParallelTasks,
  };
}
