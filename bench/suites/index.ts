/** A benchmark suite: `run` returns the figures stored under the suite's key. */
export interface Suite {
  describe: string;
  run(): Promise<Record<string, unknown>>;
}

import { controlPlaneSuite } from './control-plane.ts';
import { estimateSuite } from './estimate.ts';
import { ingestSuite } from './ingest.ts';
import { modelsSuite } from './models.ts';
import { schedulerSuite } from './scheduler.ts';
import { workerSuite } from './worker.ts';

export const SUITES: Record<string, Suite> = {
  models: modelsSuite,
  worker: workerSuite,
  ingest: ingestSuite,
  scheduler: schedulerSuite,
  'control-plane': controlPlaneSuite,
  estimate: estimateSuite,
};
