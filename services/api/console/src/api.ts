/**
 * The console's API client: every call carries the API key the user signed in with as
 * `Authorization: Bearer`, as the api expects. The key lives in sessionStorage only (gone when
 * the tab closes) and is never rendered or logged.
 */

/** Where the api is: the page's origin plus the mount prefix the server wrote into the page. */
export const API_BASE =
  document.querySelector<HTMLMetaElement>('meta[name="vb-api-base"]')?.content.replace(/\/+$/, '') ?? '';

const KEY = 'vb.apiKey';
const WORKSPACE = 'vb.workspace';

/** An answer ≥ 400, with the api's message and code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The signed-in session, or null. */
export function session(): { key: string; workspace: string } | null {
  const key = sessionStorage.getItem(KEY);
  const workspace = sessionStorage.getItem(WORKSPACE);
  return key && workspace ? { key, workspace } : null;
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WORKSPACE);
}

/** Listeners told when the api refuses the session's key (it was revoked): the app signs out. */
const refused = new Set<() => void>();
export function onKeyRefused(fn: () => void): () => void {
  refused.add(fn);
  return () => refused.delete(fn);
}

type Query = Record<string, string | number | undefined | null>;

function url(path: string, query: Query = {}): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const q = qs.toString();
  return `${API_BASE}${path}${q ? `?${q}` : ''}`;
}

async function send<T>(
  key: string,
  method: string,
  path: string,
  opts: { query?: Query; json?: unknown; form?: FormData } = {},
): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}`, accept: 'application/json' };
  let body: BodyInit | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) body = opts.form;
  let res: Response;
  try {
    res = await fetch(url(path, opts.query), { method, headers, body });
  } catch {
    throw new ApiError(0, null, 'The api could not be reached. Is it running?');
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (res.status >= 400) {
    const b = parsed as { error?: unknown; code?: unknown } | null;
    const message = b && typeof b.error === 'string' ? b.error : `HTTP ${res.status}`;
    throw new ApiError(res.status, b && typeof b.code === 'string' ? b.code : null, message);
  }
  return parsed as T;
}

/**
 * Signs in: the api answers `GET /` with the key's workspace. A refused key is a clear message,
 * and nothing is stored.
 */
export async function signIn(key: string): Promise<string> {
  try {
    const r = await send<{ workspace: string }>(key.trim(), 'GET', '/');
    sessionStorage.setItem(KEY, key.trim());
    sessionStorage.setItem(WORKSPACE, r.workspace);
    return r.workspace;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401)
      throw new ApiError(401, e.code, 'This API key was not accepted. Check the key and try again.');
    throw e;
  }
}

/** A call with the session's key; a 401 (the key was revoked) signs the console out. */
export async function call<T>(
  method: string,
  path: string,
  opts: { query?: Query; json?: unknown; form?: FormData } = {},
): Promise<T> {
  const s = session();
  if (!s) throw new ApiError(401, null, 'Not signed in');
  try {
    return await send<T>(s.key, method, path, opts);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      signOut();
      for (const fn of refused) fn();
    }
    throw e;
  }
}

/** The URL of a job's live event stream. EventSource cannot send headers, so the key is a query parameter, as Roboflow's client sends it. */
export function eventsUrl(path: string): string {
  const s = session();
  return url(path, { api_key: s?.key });
}

/** Path prefixes of the session's workspace. */
export const paths = {
  ds: () => `/data-staging/v1/external/${encodeURIComponent(session()?.workspace ?? '')}`,
  bp: () => `/batch-processing/v1/external/${encodeURIComponent(session()?.workspace ?? '')}`,
  wf: () => `/workflows/v1/external/${encodeURIComponent(session()?.workspace ?? '')}/workflows`,
  md: () => `/models/v1/external/${encodeURIComponent(session()?.workspace ?? '')}/models`,
  vb: () => `/visionbatch/v1/${encodeURIComponent(session()?.workspace ?? '')}`,
};

/**
 * A signed URL as a same-origin path: the api mints absolute URLs under its public URL, while
 * the console talks to the origin it was loaded from (its CSP allows no other).
 */
export function sameOrigin(signedUrl: string): string {
  const u = new URL(signedUrl, location.href);
  return `${u.pathname}${u.search}`;
}
