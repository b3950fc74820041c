import { call, paths } from '../api.ts';
import { ErrorBox, Pager, ProgressBar, Section, StateBadge, useLoad, usePager } from '../components.tsx';
import { eta, jobProgress, jobState, when } from '../format.ts';
import { useLiveJobs } from '../live.ts';
import type { Job } from '../wire.ts';

/** Event streams the list opens at most: browsers allow six connections per host over HTTP/1.1. */
const MAX_STREAMS = 3;

export function JobsPage() {
  const pager = usePager();
  const list = useLoad(
    () =>
      call<{ jobs: Job[]; nextPageToken: string | null }>('GET', `${paths.bp()}/jobs`, {
        query: { pageSize: 20, nextPageToken: pager.token },
      }),
    [pager.token],
  );
  const running = (list.data?.jobs ?? []).filter((j) => !j.isTerminal).map((j) => j.jobId);
  // The running jobs' streams refresh the list; new jobs show on the next change or on Refresh.
  useLiveJobs(running.slice(0, MAX_STREAMS), list.reload);
  return (
    <Section
      title="Jobs"
      actions={
        <span>
          <button type="button" onClick={list.reload}>
            Refresh
          </button>{' '}
          <a class="button" href="#/new-job">
            New job
          </a>
        </span>
      }
    >
      <ErrorBox error={list.error} />
      <table class="jobs">
        <thead>
          <tr>
            <th>Job</th>
            <th>Name</th>
            <th>State</th>
            <th>Stage</th>
            <th>Progress</th>
            <th>ETA</th>
            <th>Machine</th>
            <th>Compute</th>
            <th>Credits</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.jobs ?? []).map((j) => (
            <tr key={j.jobId} data-job={j.jobId}>
              <td>
                <a href={`#/jobs/${encodeURIComponent(j.jobId)}`}>{j.jobId}</a>
              </td>
              <td>{j.name}</td>
              <td>
                <StateBadge state={jobState(j)} />
              </td>
              <td>{j.currentStage ?? '—'}</td>
              <td>
                <ProgressBar value={jobProgress(j)} label={`progress of ${j.jobId}`} />
              </td>
              <td>{j.isTerminal ? '—' : eta(j.estimatedCompletion)}</td>
              <td>
                {j.jobDefinition.computeConfiguration.machineType ?? 'cpu'} ×{' '}
                {j.jobDefinition.computeConfiguration.workersPerMachine ?? 1}
              </td>
              <td>
                {j.computeUsage.cpuSeconds.toFixed(1)} s cpu
                {j.computeUsage.gpuSeconds > 0 ? `, ${j.computeUsage.gpuSeconds.toFixed(1)} s gpu` : ''}
              </td>
              <td>{j.computeUsage.credits.toFixed(4)}</td>
              <td>{when(j.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.jobs.length === 0 && <p class="empty">No jobs yet.</p>}
      <Pager pager={pager} nextToken={list.data?.nextPageToken} />
    </Section>
  );
}
