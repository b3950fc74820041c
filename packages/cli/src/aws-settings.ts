import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ini from 'ini';
import { CliError } from './cli-error.ts';

/**
 * Where and as whom to reach an S3-compatible store, from the variables and files the AWS tools use:
 * `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or
 * `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`), else the profile
 * `AWS_PROFILE` (default `default`) of `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`) and
 * `~/.aws/config` (`AWS_CONFIG_FILE`; its `region` and `endpoint_url`).
 */
export interface S3Settings {
  /** `https://s3.amazonaws.com`, or the custom endpoint (MinIO, R2, GCS interoperability, ...) */
  endpoint: URL;
  /** path-style addressing (`host/bucket/key`) everywhere but on AWS, since every S3 clone serves it */
  pathStyle: boolean;
  region: string;
  accessKey: string;
  secretKey: string;
  sessionToken?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Sections of an INI file; a missing file is empty. */
async function readIni(file: string): Promise<Record<string, Record<string, string>>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return ini.parse(text) as Record<string, Record<string, string>>;
}

/**
 * The S3 settings of this environment. `defaultEndpoint` is the store the bucket scheme implies
 * (`gs://` → Google Cloud Storage's S3 interoperability endpoint).
 * @throws CliError when no credentials are found (a presigned URL needs them)
 */
export async function s3SettingsFromEnv(
  env: Env = process.env,
  defaultEndpoint = 'https://s3.amazonaws.com',
): Promise<S3Settings> {
  const home = env.HOME ?? os.homedir();
  const profile = env.AWS_PROFILE || 'default';
  const credentials =
    (await readIni(env.AWS_SHARED_CREDENTIALS_FILE || path.join(home, '.aws', 'credentials')))[profile] ?? {};
  const configFile = await readIni(env.AWS_CONFIG_FILE || path.join(home, '.aws', 'config'));
  // ~/.aws/config names profiles "profile <name>", except the default one.
  const config = configFile[profile === 'default' ? 'default' : `profile ${profile}`] ?? {};
  const accessKey = env.AWS_ACCESS_KEY_ID || credentials.aws_access_key_id;
  const secretKey = env.AWS_SECRET_ACCESS_KEY || credentials.aws_secret_access_key;
  if (!accessKey || !secretKey)
    throw new CliError(
      `no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile in ~/.aws/credentials (looked for "${profile}")`,
    );
  const custom = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || config.endpoint_url;
  let endpoint: URL;
  try {
    endpoint = new URL(custom || defaultEndpoint);
  } catch {
    throw new CliError(`the S3 endpoint "${custom}" is not a URL (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)`);
  }
  const sessionToken = env.AWS_SESSION_TOKEN || credentials.aws_session_token;
  return {
    endpoint,
    pathStyle: !endpoint.hostname.endsWith('amazonaws.com'),
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || config.region || 'us-east-1',
    accessKey,
    secretKey,
    ...(sessionToken ? { sessionToken } : {}),
  };
}
