import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { percent } from './format.ts';

/** A progress bar; `null` is shown as unknown. */
export function ProgressBar({ value, label }: { value: number | null; label?: string }) {
  const v = value === null ? null : Math.max(0, Math.min(1, value));
  return (
    <div
      class="progress"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={v === null ? undefined : Math.round(v * 100)}
      aria-label={label ?? 'progress'}
    >
      <div class={`bar${v === 1 ? ' done' : ''}`} style={{ width: v === null ? '0%' : `${v * 100}%` }} />
      <span>{v === null ? '—' : percent(v)}</span>
    </div>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </p>
  );
}

export function Section({
  title,
  children,
  actions,
}: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <section>
      <header class="section-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/** Loads with `load` when `deps` change; `reload` loads again (keeping the old data on screen). */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: unknown[],
): { data: T | null; error: unknown; loading: boolean; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => {
    const mine = ++seq.current;
    setLoading(true);
    loadRef
      .current()
      .then((d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(null);
      })
      .catch((e) => mine === seq.current && setError(e))
      .finally(() => mine === seq.current && setLoading(false));
  }, []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller names the dependencies
  useEffect(reload, deps);
  return { data, error, loading, reload };
}

/** Previous / next over token-paged lists: keeps the tokens of the pages seen. */
export function usePager(): {
  token: string | null;
  page: number;
  next: (t: string | null) => void;
  prev: () => void;
  reset: () => void;
} {
  const [tokens, setTokens] = useState<(string | null)[]>([null]);
  return {
    token: tokens[tokens.length - 1],
    page: tokens.length,
    next: (t) => t && setTokens([...tokens, t]),
    prev: () => tokens.length > 1 && setTokens(tokens.slice(0, -1)),
    reset: () => setTokens([null]),
  };
}

export function Pager({
  pager,
  nextToken,
}: {
  pager: ReturnType<typeof usePager>;
  nextToken: string | null | undefined;
}) {
  return (
    <div class="pager">
      <button type="button" disabled={pager.page <= 1} onClick={pager.prev}>
        ← Previous
      </button>
      <span>page {pager.page}</span>
      <button type="button" disabled={!nextToken} onClick={() => pager.next(nextToken ?? null)}>
        Next →
      </button>
    </div>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}
