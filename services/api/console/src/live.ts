import { useEffect, useRef, useState } from 'preact/hooks';
import { eventsUrl, paths } from './api.ts';

/** An event of a job's live stream (`GET .../jobs/{jobId}/events`). */
export interface JobEvent {
  kind: 'state' | 'stage' | 'task' | 'log' | 'gap' | 'terminal' | 'close';
  data: Record<string, unknown>;
}

// `gap`: events were missed (the page reloads what it shows); `close`: the server ended the stream
// early, and EventSource reconnects by itself with Last-Event-ID.
const KINDS: JobEvent['kind'][] = ['state', 'stage', 'task', 'log', 'gap', 'terminal', 'close'];

/**
 * Follows a job's event stream. `onUnavailable` is called when the stream cannot be opened at all
 * (an api without the events route): the caller falls back to polling. The browser's
 * EventSource resumes a dropped stream by itself with `Last-Event-ID`; the stream is closed here
 * after the `terminal` event.
 */
export function watchJob(
  jobId: string,
  onEvent: (e: JobEvent) => void,
  onUnavailable: () => void,
): () => void {
  const es = new EventSource(eventsUrl(`${paths.bp()}/jobs/${encodeURIComponent(jobId)}/events`));
  let opened = false;
  es.onopen = () => {
    opened = true;
  };
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED) return; // reconnecting by itself
    es.close();
    if (!opened) onUnavailable();
  };
  for (const kind of KINDS)
    es.addEventListener(kind, (m) => {
      let data: Record<string, unknown> = {};
      try {
        data = JSON.parse((m as MessageEvent<string>).data);
      } catch {}
      onEvent({ kind, data });
      if (kind === 'terminal') es.close();
    });
  return () => es.close();
}

/** Calls `fn` at most once per `ms`, the last call always landing (trailing edge). */
export function throttle(fn: () => void, ms: number): { (): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last = 0;
  const run = () => {
    timer = null;
    last = Date.now();
    fn();
  };
  const t = () => {
    if (timer) return;
    timer = setTimeout(run, Math.max(0, last + ms - Date.now()));
  };
  t.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return t;
}

/** Milliseconds between refreshes when the api has no event stream. */
export const POLL_FALLBACK_MS = 2000;

/**
 * Keeps a view of jobs current: while any of `jobIds` runs, their event streams drive `refresh`
 * (throttled); an event is also handed to `onEvent`. Without an event stream (older api), one
 * polling loop for the whole view takes over, and `polling` says so.
 */
export function useLiveJobs(
  jobIds: string[],
  refresh: () => void,
  onEvent?: (jobId: string, e: JobEvent) => void,
): { polling: boolean } {
  const [polling, setPolling] = useState(false);
  const latest = useRef({ refresh, onEvent });
  latest.current = { refresh, onEvent };
  const key = jobIds.join(',');
  useEffect(() => {
    if (jobIds.length === 0) return;
    const again = throttle(() => latest.current.refresh(), 500);
    let poll: ReturnType<typeof setInterval> | null = null;
    const fallback = () => {
      poll ??= setInterval(() => latest.current.refresh(), POLL_FALLBACK_MS);
      setPolling(true);
    };
    const stops = jobIds.map((id) =>
      watchJob(
        id,
        (e) => {
          latest.current.onEvent?.(id, e);
          again();
        },
        fallback,
      ),
    );
    return () => {
      for (const s of stops) s();
      again.cancel();
      if (poll) clearInterval(poll);
    };
    // biome-ignore lint/correctness/useExhaustiveDependencies: the ids, joined, are the dependency
  }, [key]);
  return { polling };
}
