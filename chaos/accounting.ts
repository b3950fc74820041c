/**
 * The chaos run's checks, as pure functions of what it collected (so they are unit-tested): the
 * webhooks against the jobs' terminal states, metered against leased time, and the verdict.
 */
import type { LeaseObservation } from './lease-sampler.ts';
import type { Delivery } from './webhook-receiver.ts';

export interface WebhookTally {
  /** one per terminal job */
  expected: number;
  /** distinct event ids acknowledged with a 2xx */
  delivered: number;
  /**
   * same job and terminal state acknowledged under more than one event id, plus every 2xx beyond
   * the first for one event id (a redelivery after the receiver had acknowledged it)
   */
  duplicates: number;
  /** terminal jobs without an acknowledged webhook of their state */
  missing: string[];
  /** acknowledged webhooks of a job that is not terminal, or of another state than the job's */
  unexpected: string[];
  /** deliveries answered with a non-2xx (the receiver refuses some first attempts), all retried */
  rejectedAttempts: number;
}

const wireState = (s: string) => (s === 'succeeded' ? 'success' : 'fail');

/** Webhooks received against the jobs' terminal states (`succeeded`/`failed`/`aborted`; absent = not terminal). */
export function tallyWebhooks(
  deliveries: readonly Delivery[],
  terminal: ReadonlyMap<string, string>,
): WebhookTally {
  const acked = deliveries.filter((d) => d.status >= 200 && d.status < 300);
  const ackCount = new Map<string, number>();
  const eventsOf = new Map<string, Set<string>>();
  for (const d of acked) {
    ackCount.set(d.eventId, (ackCount.get(d.eventId) ?? 0) + 1);
    const k = `${d.jobId}#${d.jobState}`;
    if (!eventsOf.has(k)) eventsOf.set(k, new Set());
    eventsOf.get(k)?.add(d.eventId);
  }
  let duplicates = 0;
  for (const n of ackCount.values()) duplicates += n - 1;
  for (const ids of eventsOf.values()) duplicates += ids.size - 1;
  const missing = [...terminal]
    .filter(([job, st]) => !eventsOf.has(`${job}#${wireState(st)}`))
    .map(([j]) => j);
  const unexpected = [...eventsOf.keys()].filter((k) => {
    const [job, st] = k.split('#');
    const s = terminal.get(job);
    return s === undefined || wireState(s) !== st;
  });
  return {
    expected: terminal.size,
    delivered: ackCount.size,
    duplicates,
    missing,
    unexpected,
    rejectedAttempts: deliveries.length - acked.length,
  };
}

/**
 * Metered compute seconds of the jobs against the lease time seen: Σ over leases of (end − grant).
 * A lease still heartbeating when last seen open (its last heartbeat within 1.5 heartbeat intervals)
 * was released by its machine and is billed up to the release, so its end is when it was last seen
 * (within one sample of the release); one that had stopped heartbeating belonged to a machine that
 * died, and is billed up to its last heartbeat (expired, or closed when the machine came back), so
 * that is its end. The ratio is ≈ 1; far from 1 means time billed twice, for a dead machine, or not
 * at all.
 */
export function meteredVsLeased(
  meteredSeconds: number,
  leases: Iterable<LeaseObservation>,
  heartbeatMs: number,
): { leasedSeconds: number; leases: number; ratio: number | null } {
  let ms = 0;
  let n = 0;
  for (const l of leases) {
    const end = l.lastSeenAt - l.lastHeartbeat <= 1.5 * heartbeatMs ? l.lastSeenAt : l.lastHeartbeat;
    ms += Math.max(0, end - l.startedAt);
    n++;
  }
  const leasedSeconds = ms / 1000;
  return { leasedSeconds, leases: n, ratio: leasedSeconds > 0 ? meteredSeconds / leasedSeconds : null };
}

/** What a run must show to pass. */
export interface VerdictInput {
  jobs: number;
  terminalJobs: number;
  filesIn: number;
  filesAccounted: number;
  duplicates: number;
  webhooks: Pick<WebhookTally, 'expected' | 'delivered' | 'duplicates'>;
  runningTasksOnTerminalJobs: number;
  leakedQueueKeys: number;
}

/** The reasons a run fails (empty: it passed). */
export function verdict(r: VerdictInput): string[] {
  const why: string[] = [];
  if (r.terminalJobs !== r.jobs) why.push(`${r.jobs - r.terminalJobs} of ${r.jobs} jobs not terminal`);
  if (r.filesAccounted !== r.filesIn)
    why.push(`${r.filesIn - r.filesAccounted} of ${r.filesIn} files not accounted exactly once`);
  if (r.duplicates > 0) why.push(`${r.duplicates} duplicated results`);
  if (r.webhooks.delivered !== r.webhooks.expected)
    why.push(`${r.webhooks.delivered} webhooks delivered, ${r.webhooks.expected} expected`);
  if (r.webhooks.duplicates > 0) why.push(`${r.webhooks.duplicates} duplicated webhooks`);
  if (r.runningTasksOnTerminalJobs > 0)
    why.push(`${r.runningTasksOnTerminalJobs} tasks still running on terminal jobs`);
  if (r.leakedQueueKeys > 0) why.push(`${r.leakedQueueKeys} keys of ended jobs' queues left in Redis`);
  return why;
}
