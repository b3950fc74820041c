/** The chaos run's report: the JSON written to reports/chaos/latest.json and its Markdown rendering. */
import type { ProcessKind } from './schedule.ts';

export interface JobOutcome {
  jobId: string;
  kind: 'images' | 'video';
  state: string;
  filesIn: number;
  filesAccounted: number;
  duplicates: number;
  runningTasks: number;
  meteredSeconds: number;
  missing: string[];
}

export interface ChaosReport {
  generatedAt: string;
  machine: { cpus: number; model: string; node: string };
  options: Record<string, unknown>;
  seed: number;
  /** how long faults were injected, s */
  durationSeconds: number;
  /** from the end of the faults until every job was terminal and every effect carried out, s */
  settleSeconds: number;
  jobsByState: Record<string, number>;
  filesIn: number;
  filesAccounted: number;
  duplicates: number;
  webhooksExpected: number;
  webhooksDelivered: number;
  webhookDuplicates: number;
  webhooksMissing: string[];
  webhooksUnexpected: string[];
  webhookRejectedAttempts: number;
  runningTasksOnTerminalJobs: number;
  kills: Record<ProcessKind, number>;
  redisStops: { sigkill: number; shutdown: number };
  faultsSkipped: number;
  meteredSeconds: number;
  leasedSeconds: number;
  leasesSeen: number;
  meteredVsLeasedRatio: number | null;
  meteredVsLeasedDefinition: string;
  leakedQueueKeys: string[];
  outboxPending: number;
  /** counted in the processes' logs: evidence that the fences and the failover did their work */
  observed: Record<string, number>;
  jobs: JobOutcome[];
  faults: Array<{ t: number; target: string; action: string; downMs: number }>;
  failures: string[];
  ok: boolean;
}

export function renderMarkdown(r: ChaosReport): string {
  const opts = Object.entries(r.options)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const lines = [
    `# Chaos run — ${r.ok ? 'PASS' : 'FAIL'}`,
    '',
    `${r.generatedAt} on ${r.machine.cpus} × ${r.machine.model}, Node ${r.machine.node}. Options: ${opts}.`,
    `Reproduce with \`npm run chaos -- --seed ${r.seed}\` and the same options.`,
    '',
    '| figure | value |',
    '|---|---|',
    `| faults injected for / settled in | ${r.durationSeconds} s / ${r.settleSeconds} s |`,
    `| kills (SIGKILL; Redis: SIGKILL or SHUTDOWN) | ${Object.entries(r.kills)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')} (Redis: ${r.redisStops.sigkill} SIGKILL, ${r.redisStops.shutdown} SHUTDOWN) |`,
    `| jobs by state | ${Object.entries(r.jobsByState)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')} |`,
    `| files in / accounted exactly once (results or failure logs) | ${r.filesIn} / ${r.filesAccounted} |`,
    `| duplicates | ${r.duplicates} |`,
    `| webhooks expected / delivered (distinct event ids) / duplicates | ${r.webhooksExpected} / ${r.webhooksDelivered} / ${r.webhookDuplicates} |`,
    `| webhook attempts the receiver refused (503, retried) | ${r.webhookRejectedAttempts} |`,
    `| tasks still running on terminal jobs | ${r.runningTasksOnTerminalJobs} |`,
    `| metered / leased seconds (ratio), leases seen | ${r.meteredSeconds} / ${r.leasedSeconds} (${r.meteredVsLeasedRatio ?? 'n/a'}), ${r.leasesSeen} |`,
    `| queue keys of ended jobs left / outbox entries pending | ${r.leakedQueueKeys.length} / ${r.outboxPending} |`,
    `| observed in the logs | ${Object.entries(r.observed)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')} |`,
    '',
    `Metered vs leased: ${r.meteredVsLeasedDefinition}`,
    '',
    '## Jobs',
    '',
    '| job | kind | state | files in | accounted | duplicates | running tasks | metered s |',
    '|---|---|---|---|---|---|---|---|',
    ...r.jobs.map(
      (j) =>
        `| ${j.jobId} | ${j.kind} | ${j.state} | ${j.filesIn} | ${j.filesAccounted} | ${j.duplicates} | ${j.runningTasks} | ${j.meteredSeconds} |`,
    ),
    '',
    '## Faults',
    '',
    '| t (s) | process | how | down (s) |',
    '|---|---|---|---|',
    ...r.faults.map((f) => `| ${f.t} | ${f.target} | ${f.action} | ${f.downMs / 1000} |`),
    '',
  ];
  if (r.failures.length) lines.push('## Failures', '', ...r.failures.map((f) => `- ${f}`), '');
  return `${lines.join('\n')}\n`;
}
