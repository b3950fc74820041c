/**
 * What `global-setup.ts` hands to test files through vitest's `provide()` / `inject()`. The same values
 * are also exported as `VB_TEST_*` environment variables for code that reads config from the env.
 */

/** The Redis server started for this test run. */
export interface TestRedisInfo {
  /**
   * `redis://:<password>@127.0.0.1:<port>` with no database number; prefer `redisTestUrl()`, which
   * adds this worker's. The server requires the password, as production Redis does.
   */
  url: string;
  host: string;
  port: number;
  password: string;
  /** How many logical databases the server has (each test worker uses its own, see `redisTestDb()`). */
  databases: number;
  /** `local`: a redis-server child process; `container`: testcontainers' redis:7-alpine. */
  flavour: 'local' | 'container';
}

/** The S3-compatible server started for this test run. */
export interface TestS3Info {
  /** Base URL, e.g. `http://127.0.0.1:43121`. */
  endPoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  /**
   * `s3rver` (local fallback: no SigV4 verification, no `GET ?uploads`, no multipart abort, etags of
   * multipart objects without the `-N` suffix) or `minio` (a real MinIO in a container).
   */
  flavour: 's3rver' | 'minio';
}

declare module 'vitest' {
  export interface ProvidedContext {
    vbRedis: TestRedisInfo;
    vbS3: TestS3Info;
  }
}

/** Databases the test Redis is started with: enough for one per worker (`maxWorkers`) and spares. */
export const TEST_REDIS_DATABASES = 32;

/** Servers started by the global setup, with the way to stop exactly them. */
export interface StartedServers {
  redis: TestRedisInfo;
  s3: TestS3Info;
  /** Stops what was started and removes its temp folders. */
  stop(): Promise<void>;
}
