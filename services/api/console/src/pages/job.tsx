import { useEffect, useState } from 'preact/hooks';
import { call, paths } from '../api.ts';
import { ErrorBox, Json, ProgressBar, Section, StateBadge, useLoad } from '../components.tsx';
import { duration, eta, jobProgress, jobState, notificationText, when } from '../format.ts';
import { type JobEvent, useLiveJobs } from '../live.ts';
import type { Job, LogLine, Stage, Task } from '../wire.ts';
import { BatchFiles } from './batches.tsx';

type Details = { job: Job; stages: Stage[]; tasks: Record<string, Task[]> };

async function loadDetails(jobId: string): Promise<Details> {
  const base = `${paths.bp()}/jobs/${encodeURIComponent(jobId)}`;
  const [{ job }, { stages }] = await Promise.all([
    call<{ job: Job }>('GET', base),
    call<{ stages: Stage[] }>('GET', `${base}/stages`),
  ]);
  const tasks: Record<string, Task[]> = {};
  for (const s of stages) {
    const all: Task[] = [];
    let token: string | null = null;
    do {
      const page: { tasks: Task[]; nextPageToken: string | null } = await call(
        'GET',
        `${base}/stages/${encodeURIComponent(s.processingStageId)}/tasks`,
        {
          query: { nextPageToken: token, pageSize: 500 },
        },
      );
      all.push(...page.tasks);
      token = page.nextPageToken;
    } while (token && all.length < 5000);
    tasks[s.processingStageId] = all;
  }
  return { job, stages, tasks };
}

export function JobPage({ jobId }: { jobId: string }) {
  const details = useLoad(() => loadDetails(jobId), [jobId]);
  const [severity, setSeverity] = useState('');
  const logs = useLoad(async () => {
    const all: LogLine[] = [];
    let token: string | null = null;
    do {
      const page: { logs: LogLine[]; nextPageToken: string | null } = await call(
        'GET',
        `${paths.bp()}/jobs/${encodeURIComponent(jobId)}/logs`,
        {
          query: { severity, nextPageToken: token, pageSize: 500 },
        },
      );
      all.push(...page.logs);
      token = page.nextPageToken;
    } while (token && all.length < 5000);
    return all;
  }, [jobId, severity]);
  const [liveLogs, setLiveLogs] = useState<LogLine[]>([]);
  const job = details.data?.job;
  // The stream drives the page: each event reloads the details (throttled); log lines are appended
  // as they come. Polling (no stream) reloads the logs too.
  const live = useLiveJobs(
    job && !job.isTerminal ? [jobId] : [],
    () => {
      details.reload();
      if (live.polling) logs.reload();
    },
    (_id, e: JobEvent) => {
      if (e.kind === 'log') setLiveLogs((l) => [...l, e.data as unknown as LogLine]);
    },
  );
  // Once the job has ended, its whole log once more (the lines of its last moments included).
  const ended = job?.isTerminal ?? false;
  // biome-ignore lint/correctness/useExhaustiveDependencies: only the end of the job matters
  useEffect(() => {
    if (ended) logs.reload();
  }, [ended]);
  if (!details.data) return <ErrorBox error={details.error} />;
  const { stages, tasks } = details.data;
  const j = details.data.job;
  const state = jobState(j);
  const seen = new Set((logs.data ?? []).map((l) => JSON.stringify(l)));
  const shownLogs = [
    ...(logs.data ?? []),
    ...liveLogs.filter((l) => !seen.has(JSON.stringify(l)) && (!severity || l.severity === severity)),
  ];
  return (
    <div class="job">
      <Section title={`Job ${j.jobId}`} actions={<JobActions job={j} onChange={details.reload} />}>
        <ErrorBox error={details.error} />
        <dl class="facts">
          <dt>Name</dt>
          <dd>{j.name}</dd>
          <dt>State</dt>
          <dd>
            <StateBadge state={state} />
          </dd>
          <dt>Progress</dt>
          <dd class="job-progress">
            <ProgressBar value={jobProgress(j, stages, tasks)} label="job progress" />
          </dd>
          <dt>ETA</dt>
          <dd>{j.isTerminal ? '—' : eta(j.estimatedCompletion)}</dd>
          <dt>Stage</dt>
          <dd>{j.currentStage ?? '—'}</dd>
          <dt>Batch</dt>
          <dd>
            <a href={`#/batches/${encodeURIComponent(j.jobDefinition.jobInput.batchId)}`}>
              {j.jobDefinition.jobInput.batchId}
            </a>
          </dd>
          <dt>Workflow</dt>
          <dd>
            <a href={`#/workflows/${encodeURIComponent(j.jobDefinition.processingSpecification.workflowId)}`}>
              {j.jobDefinition.processingSpecification.workflowId}
            </a>
          </dd>
          <dt>Machines</dt>
          <dd>
            {j.jobDefinition.computeConfiguration.machineType ?? 'cpu'},{' '}
            {j.jobDefinition.computeConfiguration.workersPerMachine ?? 1} worker(s) per machine
            {j.jobDefinition.maxParallelTasks
              ? `, at most ${j.jobDefinition.maxParallelTasks} tasks at once`
              : ''}
          </dd>
          <dt>Compute</dt>
          <dd>
            {duration(j.computeUsage.cpuSeconds)} cpu, {duration(j.computeUsage.gpuSeconds)} gpu —{' '}
            {j.computeUsage.credits.toFixed(4)} credits
          </dd>
          <dt>Webhook</dt>
          <dd>
            {j.jobDefinition.notificationsURL ? `${new URL(j.jobDefinition.notificationsURL).origin}/…` : '—'}
            <WebhookDeliveries logs={shownLogs} />
          </dd>
          <dt>Created</dt>
          <dd>{when(j.createdAt)}</dd>
          <dt>Last update</dt>
          <dd>
            {when(j.lastUpdate)}: <span class="notification">{notificationText(j.lastNotification)}</span>
          </dd>
        </dl>
      </Section>
      <Section title="Stages">
        <table>
          <thead>
            <tr>
              <th>Stage</th>
              <th>Status</th>
              <th>Tasks</th>
              <th>Output batches</th>
              <th>Started</th>
              <th>Notification</th>
            </tr>
          </thead>
          <tbody>
            {stages.map((s) => (
              <tr key={s.processingStageId}>
                <td>{s.processingStageName}</td>
                <td>
                  <StateBadge state={s.statusType} />
                </td>
                <td>{s.tasksNumber}</td>
                <td>
                  {s.outputBatches.map((b) => (
                    <a key={b} href={`#/batches/${encodeURIComponent(b)}`}>
                      {b}{' '}
                    </a>
                  ))}
                </td>
                <td>{when(s.startTimestamp)}</td>
                <td>{notificationText(s.notification)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      {stages.map((s) => (
        <Section key={s.processingStageId} title={`Tasks of ${s.processingStageName}`}>
          <table class="tasks">
            <thead>
              <tr>
                <th>Task</th>
                <th>Status</th>
                <th>Progress</th>
                <th>Updated</th>
                <th>Notification</th>
              </tr>
            </thead>
            <tbody>
              {(tasks[s.processingStageId] ?? []).map((t) => (
                <tr key={t.taskId}>
                  <td>{t.taskId}</td>
                  <td>
                    <StateBadge state={t.statusType} />
                  </td>
                  <td>
                    <ProgressBar
                      value={t.statusType === 'success' ? 1 : t.progress}
                      label={`progress of task ${t.taskId}`}
                    />
                  </td>
                  <td>{when(t.eventTimestamp)}</td>
                  <td>{notificationText(t.notification)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
      ))}
      <Section
        title="Logs"
        actions={
          <label>
            Severity{' '}
            <select
              name="severity"
              value={severity}
              onChange={(e) => setSeverity((e.currentTarget as HTMLSelectElement).value)}
            >
              <option value="">all</option>
              <option value="info">info</option>
              <option value="warning">warning</option>
              <option value="error">error</option>
            </select>
          </label>
        }
      >
        <ErrorBox error={logs.error} />
        <table class="logs">
          <tbody>
            {shownLogs.map((l, i) => (
              <tr key={i} class={`log-${l.severity}`}>
                <td>{when(l.createdAt)}</td>
                <td>{l.severity}</td>
                <td>{l.logType}</td>
                <td>{l.taskId ?? ''}</td>
                <td>
                  <code>{JSON.stringify(l.payload)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {logs.data && shownLogs.length === 0 && (
          <p class="empty">No log lines{severity ? ` of severity ${severity}` : ''}.</p>
        )}
      </Section>
      {stages.flatMap((s) =>
        s.outputBatches.map((b) => (
          <Section key={b} title={`Output batch ${b}`}>
            {/* listed again when the stage that writes it moves on (its files land as it runs) */}
            <BatchFiles key={`${b}-${s.statusType}`} batchId={b} />
          </Section>
        )),
      )}
    </div>
  );
}

/** Abort while the job runs; Restart (with overrides) once it failed or was aborted. */
function JobActions({ job, onChange }: { job: Job; onChange: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [restartOpen, setRestartOpen] = useState(false);
  const state = jobState(job);
  const base = `${paths.bp()}/jobs/${encodeURIComponent(job.jobId)}`;
  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const restart = (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const num = (k: string) => (f.get(k) ? Number(f.get(k)) : undefined);
    const machineType = (f.get('machineType') as string) || undefined;
    const workersPerMachine = num('workersPerMachine');
    const body = {
      type: 'parameters-override-v1',
      ...(machineType || workersPerMachine
        ? {
            computeConfiguration: {
              ...(machineType ? { machineType } : {}),
              ...(workersPerMachine ? { workersPerMachine } : {}),
            },
          }
        : {}),
      ...(num('maxParallelTasks') ? { maxParallelTasks: num('maxParallelTasks') } : {}),
      ...(num('processingTimeoutSeconds')
        ? { processingTimeoutSeconds: num('processingTimeoutSeconds') }
        : {}),
      ...(f.get('maxImageFailureRate')
        ? { maxImageFailureRate: Number(f.get('maxImageFailureRate')) / 100 }
        : {}),
    };
    void act(async () => {
      await call('POST', `${base}/restart`, { json: body });
      setRestartOpen(false);
    });
  };
  return (
    <div class="actions">
      {!job.isTerminal && (
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() => confirm(`Abort job ${job.jobId}?`) && act(() => call('POST', `${base}/abort`))}
        >
          Abort
        </button>
      )}
      {job.isTerminal && state !== 'succeeded' && (
        <button type="button" disabled={busy} onClick={() => setRestartOpen(!restartOpen)}>
          Restart…
        </button>
      )}
      {restartOpen && (
        <form class="restart" onSubmit={restart}>
          <p>Overrides (empty: as before)</p>
          <label>
            Machine type
            <select name="machineType">
              <option value="">unchanged</option>
              <option value="cpu">cpu</option>
              <option value="gpu">gpu</option>
            </select>
          </label>
          <label>
            Workers per machine <input name="workersPerMachine" type="number" min={1} max={64} />
          </label>
          <label>
            Max parallel tasks <input name="maxParallelTasks" type="number" min={1} />
          </label>
          <label>
            Max runtime (s) <input name="processingTimeoutSeconds" type="number" min={1} />
          </label>
          {job.jobDefinition.type === 'simple-image-processing-v1' && (
            <label>
              Max image failure rate (%) <input name="maxImageFailureRate" type="number" min={0} max={100} />
            </label>
          )}
          <button type="submit" disabled={busy}>
            Restart job
          </button>
        </form>
      )}
      <ErrorBox error={error} />
      {job.restartParametersOverride.length > 0 && (
        <details>
          <summary>{job.restartParametersOverride.length} restart(s)</summary>
          <Json value={job.restartParametersOverride} />
        </details>
      )}
    </div>
  );
}

/** The attempts of the job's webhook, from its log (`webhook-delivery` lines the scheduler writes). */
function WebhookDeliveries({ logs }: { logs: LogLine[] }) {
  const attempts = logs.filter((l) => l.logType === 'webhook-delivery');
  if (attempts.length === 0) return null;
  return (
    <table class="deliveries" aria-label="webhook deliveries">
      <tbody>
        {attempts.map((l) => {
          const p = l.payload as {
            attempt: number;
            outcome: string;
            status: number | null;
            willRetry: boolean;
          };
          return (
            <tr key={`${l.createdAt}-${p.attempt}`}>
              <td>{when(l.createdAt)}</td>
              <td>attempt {p.attempt}</td>
              <td class={`outcome outcome-${p.outcome}`}>
                {p.outcome}
                {p.status !== null ? ` (${p.status})` : ''}
                {p.willRetry ? ', will retry' : ''}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
