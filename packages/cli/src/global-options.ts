import { ApiClient } from './api-client.ts';

type Env = Record<string, string | undefined>;

/** The development key of the default `VB_API_KEYS` (`vb_dev_key:demo`). */
export const DEV_API_KEY = 'vb_dev_key';

/** Options every command accepts. */
export interface GlobalOptions {
  apiUrl?: string;
  apiKey?: string;
  debugMode?: boolean;
}

const nonEmpty = (v: string | undefined) => (v !== undefined && v.trim() !== '' ? v.trim() : undefined);

/** `--api-url` default: `VB_API_URL`, else the local api on `VB_API_PORT` (8080). */
export function defaultApiUrl(env: Env = process.env): string {
  return nonEmpty(env.VB_API_URL) ?? `http://127.0.0.1:${nonEmpty(env.VB_API_PORT) ?? '8080'}`;
}

/** `--api-key` default: `VB_API_KEY`, else `ROBOFLOW_API_KEY`, else the development key. */
export function defaultApiKey(env: Env = process.env): string {
  return nonEmpty(env.VB_API_KEY) ?? env.ROBOFLOW_API_KEY ?? DEV_API_KEY;
}

/** The API client for a command's resolved global options. */
export function clientFor(opts: GlobalOptions, env: Env = process.env): ApiClient {
  return new ApiClient({
    baseUrl: opts.apiUrl ?? defaultApiUrl(env),
    apiKey: opts.apiKey ?? defaultApiKey(env),
  });
}
