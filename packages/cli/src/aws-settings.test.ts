import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { s3SettingsFromEnv } from './aws-settings.ts';

describe('s3SettingsFromEnv', () => {
  it('takes keys, region and endpoint from the AWS variables', async () => {
    const s = await s3SettingsFromEnv({
      HOME: '/nonexistent',
      AWS_ACCESS_KEY_ID: 'AK',
      AWS_SECRET_ACCESS_KEY: 'SK',
      AWS_SESSION_TOKEN: 'TOK',
      AWS_REGION: 'eu-west-3',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9000',
      AWS_ENDPOINT_URL_S3: 'http://minio.local:9001',
    });
    expect(s).toEqual({
      endpoint: new URL('http://minio.local:9001'),
      pathStyle: true,
      region: 'eu-west-3',
      accessKey: 'AK',
      secretKey: 'SK',
      sessionToken: 'TOK',
    });
  });

  it('reads the profile from ~/.aws/credentials and ~/.aws/config, and defaults to AWS', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'vb-aws-'));
    await mkdir(path.join(home, '.aws'));
    await writeFile(
      path.join(home, '.aws', 'credentials'),
      '[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n[ci]\naws_access_key_id = C\naws_secret_access_key = CS\n',
    );
    await writeFile(
      path.join(home, '.aws', 'config'),
      '[default]\nregion = us-west-2\n\n[profile ci]\nregion = ap-south-1\nendpoint_url = https://r2.example.com\n',
    );
    const dflt = await s3SettingsFromEnv({ HOME: home });
    expect(dflt).toMatchObject({ accessKey: 'D', secretKey: 'DS', region: 'us-west-2', pathStyle: false });
    expect(dflt.endpoint.href).toBe('https://s3.amazonaws.com/');
    const ci = await s3SettingsFromEnv({ HOME: home, AWS_PROFILE: 'ci', AWS_REGION: 'eu-central-1' });
    expect(ci).toMatchObject({ accessKey: 'C', secretKey: 'CS', region: 'eu-central-1', pathStyle: true });
    expect(ci.endpoint.host).toBe('r2.example.com');
  });

  it('says how to give credentials when there are none', async () => {
    await expect(s3SettingsFromEnv({ HOME: '/nonexistent', AWS_PROFILE: 'nope' })).rejects.toThrow(
      /no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE .*"nope"/,
    );
  });
});
