import { CliError } from './cli-error.ts';

/** Statuses the Roboflow client retries (spec §1.4); everything else ≥ 400 fails at once. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 502, 503, 504]);

/** Options of {@link ApiClient}. */
export interface ApiClientOptions {
  /** Base URL of the API, possibly with a mount prefix (`http://host:8080/rf`). */
  baseUrl: string;
  /** Sent as the `api_key` query parameter on every call, as Roboflow's client does. */
  apiKey: string;
  /** Attempts per call (first try included). @default 3 */
  attempts?: number;
  /** Pause between attempts. @default 1000 */
  retryDelayMs?: number;
  /** Time allowed until response headers arrive. @default ROBOFLOW_API_REQUEST_TIMEOUT or 60 s */
  timeoutMs?: number;
  /** The fetch implementation (tests). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Query values; `undefined` ones are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** One API call. */
export interface RequestOptions {
  query?: Query;
  /** A JSON-serialisable value (sent as `application/json`) or a ready body (FormData, Buffer). */
  json?: unknown;
  body?: FormData | Uint8Array;
  /** Whether this call is retried on 408/429/502/503/504 and connection errors. @default true */
  retry?: boolean;
  /** Overrides the client's timeout for this call (reference ingests get twice the default). */
  timeoutMs?: number;
}

/** An HTTP answer ≥ 400 from the API. The message carries the server's `error` text. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly body: unknown,
  ) {
    super(ApiError.render(status, method, path, body));
    this.name = 'ApiError';
  }

  private static render(status: number, method: string, path: string, body: unknown): string {
    const detail =
      body && typeof body === 'object' && 'error' in body
        ? String((body as { error: unknown }).error)
        : typeof body === 'string' && body.trim()
          ? body.trim().slice(0, 500)
          : '';
    const prefix =
      status === 401
        ? 'Unauthorised access to the API - check your API key'
        : `API answered HTTP ${status} to ${method} ${path}`;
    return detail ? `${prefix}: ${detail}` : prefix;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Default request timeout: the Roboflow client's `ROBOFLOW_API_REQUEST_TIMEOUT` (seconds, default 60). */
export function defaultTimeoutMs(env: Record<string, string | undefined> = process.env): number {
  const s = Number(env.ROBOFLOW_API_REQUEST_TIMEOUT);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 60_000;
}

/**
 * Runs `fn` up to `attempts` times with a constant pause, retrying only when `isRetryable` says so.
 * The last error is rethrown.
 */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  {
    attempts,
    delayMs,
    isRetryable,
  }: { attempts: number; delayMs: number; isRetryable: (e: unknown) => boolean },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= attempts || !isRetryable(e)) throw e;
      await sleep(delayMs);
    }
  }
}

/** A failure that reached no HTTP answer: refused connection, reset, DNS, timeout. */
export class ConnectionError extends CliError {
  constructor(
    readonly method: string,
    readonly url: string,
    cause: unknown,
  ) {
    super(`could not reach ${method} ${url}: ${describeFetchError(cause)}`, { cause });
    this.name = 'ConnectionError';
  }
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timed out';
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof Error) return `${e.message} (${(cause as { code?: string }).code ?? cause.message})`;
    return e.message;
  }
  return String(e);
}

/**
 * The small HTTP client every command uses. Like Roboflow's client it authenticates with the
 * `api_key` query parameter only, retries 408/429/502/503/504 and connection errors (3 attempts,
 * 1 s apart) and turns `{"error": ...}` bodies into readable {@link ApiError}s.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly apiKey: string;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  /** Time allowed per call until the response headers arrive. */
  readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private workspacePromise: Promise<string> | null = null;

  constructor(opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.apiKey = opts.apiKey;
    this.attempts = opts.attempts ?? 3;
    this.retryDelayMs = opts.retryDelayMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? defaultTimeoutMs();
    this.fetchImpl = opts.fetch ?? globalThis.fetch;
  }

  /** Absolute URL of an API path with `api_key` and the given query (undefined values dropped). */
  url(path: string, query: Query = {}): string {
    const qs = new URLSearchParams({ api_key: this.apiKey });
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.append(k, String(v));
    return `${this.baseUrl}${path}?${qs}`;
  }

  /** Performs a call and returns the parsed JSON body (`null` for an empty body). */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { accept: 'application/json' };
    let body: RequestInit['body'];
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      body = opts.body as RequestInit['body'];
    }
    const once = async (): Promise<T> => {
      let res: Response;
      try {
        res = await this.fetchImpl(url, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs),
        });
      } catch (e) {
        throw new ConnectionError(method, this.baseUrl + path, e);
      }
      const text = await res.text();
      let parsed: unknown = null;
      if (text) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      if (res.status >= 400) throw new ApiError(res.status, method, path, parsed);
      if (typeof parsed === 'string') {
        throw new CliError(
          `could not decode the API response to ${method} ${path} (not JSON): ${parsed.slice(0, 200)}`,
        );
      }
      return parsed as T;
    };
    if (opts.retry === false) return once();
    return withRetries(once, {
      attempts: this.attempts,
      delayMs: this.retryDelayMs,
      isRetryable: (e) =>
        e instanceof ConnectionError || (e instanceof ApiError && RETRYABLE_STATUSES.has(e.status)),
    });
  }

  get<T = unknown>(path: string, query?: Query, opts: Omit<RequestOptions, 'query'> = {}): Promise<T> {
    return this.request<T>('GET', path, { ...opts, query });
  }

  post<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, opts);
  }

  put<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('PUT', path, opts);
  }

  delete<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('DELETE', path, opts);
  }

  /** The workspace of the API key, from `GET /` (spec §1.3); asked once per client. */
  workspace(): Promise<string> {
    this.workspacePromise ??= this.get<{ workspace?: unknown }>('').then((b) => {
      if (!b || typeof b.workspace !== 'string' || !b.workspace) {
        throw new CliError('could not decode the API response: GET / has no "workspace"');
      }
      return b.workspace;
    });
    this.workspacePromise.catch(() => {
      this.workspacePromise = null;
    });
    return this.workspacePromise;
  }

  /** `/data-staging/v1/external/{ws}` */
  async dataStagingPrefix(): Promise<string> {
    return `/data-staging/v1/external/${encodeURIComponent(await this.workspace())}`;
  }

  /** `/batch-processing/v1/external/{ws}` */
  async batchProcessingPrefix(): Promise<string> {
    return `/batch-processing/v1/external/${encodeURIComponent(await this.workspace())}`;
  }
}

/** Encodes one path segment (ids are URL-safe already; this only guards against odd input). */
export function seg(s: string): string {
  return encodeURIComponent(s);
}
