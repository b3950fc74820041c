import { useEffect } from 'preact/hooks';
import { call, paths } from '../api.ts';
import { ErrorBox, Section, useLoad } from '../components.tsx';
import { when } from '../format.ts';
import type { Pool } from '../wire.ts';

/** The machines route has no event stream: the page reads it again every few seconds while it is open. */
const REFRESH_MS = 5000;

export function MachinesPage() {
  const pools = useLoad(() => call<{ pools: Pool[] }>('GET', `${paths.vb()}/machines`), []);
  useEffect(() => {
    const t = setInterval(pools.reload, REFRESH_MS);
    return () => clearInterval(t);
  }, [pools.reload]);
  return (
    <div>
      <Section
        title="Machines"
        actions={
          <button type="button" onClick={pools.reload}>
            Refresh
          </button>
        }
      >
        <ErrorBox error={pools.error} />
        <table class="pools">
          <thead>
            <tr>
              <th>Pool</th>
              <th>Live</th>
              <th>Busy</th>
              <th>Desired</th>
              <th>Target</th>
              <th>Throughput</th>
              <th>Sized</th>
            </tr>
          </thead>
          <tbody>
            {(pools.data?.pools ?? []).map((p) => (
              <tr key={p.pool}>
                <td>{p.pool}</td>
                <td>{p.liveMachines}</td>
                <td>{p.busyMachines}</td>
                <td>{p.desiredMachines ?? '—'}</td>
                <td>{p.targetMachines ?? '—'}</td>
                <td>
                  {p.filesPerMachineSecond === null
                    ? '—'
                    : `${p.filesPerMachineSecond.toFixed(2)} files/s per machine`}
                  {p.filesPerMachineSecond !== null && !p.throughputMeasured ? ' (default)' : ''}
                </td>
                <td>{when(p.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="Leases of this workspace's jobs">
        <table class="leases">
          <thead>
            <tr>
              <th>Job</th>
              <th>Pool</th>
              <th>Machine</th>
              <th>Since</th>
              <th>Last heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {(pools.data?.pools ?? []).flatMap((p) =>
              p.leases.map((l) => (
                <tr key={`${l.jobId}-${l.machineId}`}>
                  <td>
                    <a href={`#/jobs/${encodeURIComponent(l.jobId)}`}>{l.jobId}</a>
                  </td>
                  <td>{p.pool}</td>
                  <td>{l.machineId}</td>
                  <td>{when(l.startedAt)}</td>
                  <td>{when(l.lastHeartbeat)}</td>
                </tr>
              )),
            )}
          </tbody>
        </table>
        {pools.data && pools.data.pools.every((p) => p.leases.length === 0) && (
          <p class="empty">No machine works on this workspace's jobs now.</p>
        )}
      </Section>
    </div>
  );
}
