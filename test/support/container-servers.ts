/** Redis and MinIO in containers, for machines with a Docker-compatible runtime. */
import { randomBytes } from 'node:crypto';
import type * as Testcontainers from 'testcontainers';
import { waitFor } from './basics.ts';
import { type StartedServers, TEST_REDIS_DATABASES } from './context.ts';
import { httpAnswers, redisPing } from './probes.ts';

const MINIO_CREDENTIALS = { accessKey: 'vbtestaccess', secretKey: 'vbtestsecret' };

/**
 * Starts `redis:7-alpine` (AOF, noeviction, as in production) and `minio/minio`. Testcontainers' reaper
 * removes them if this process dies before the teardown.
 */
export async function startContainerServers(tc: typeof Testcontainers): Promise<StartedServers> {
  // A password, as in production: every client of the suite must pass it.
  const redisPassword = randomBytes(24).toString('hex');
  const redisContainer = new tc.GenericContainer('redis:7-alpine')
    .withCommand([
      'redis-server',
      '--requirepass',
      redisPassword,
      '--appendonly',
      'yes',
      '--maxmemory-policy',
      'noeviction',
      '--databases',
      String(TEST_REDIS_DATABASES),
    ])
    .withExposedPorts(6379)
    .withWaitStrategy(tc.Wait.forLogMessage(/Ready to accept connections/));
  const minioContainer = new tc.GenericContainer('minio/minio')
    .withCommand(['server', '/data'])
    .withEnvironment({
      MINIO_ROOT_USER: MINIO_CREDENTIALS.accessKey,
      MINIO_ROOT_PASSWORD: MINIO_CREDENTIALS.secretKey,
    })
    .withExposedPorts(9000)
    .withWaitStrategy(tc.Wait.forHttp('/minio/health/live', 9000));

  const [redis, minio] = await Promise.allSettled([redisContainer.start(), minioContainer.start()]);
  if (redis.status === 'rejected' || minio.status === 'rejected') {
    await Promise.all([redis, minio].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    const reasons = [redis, minio].flatMap((r) =>
      r.status === 'rejected' ? [String((r.reason as Error).message)] : [],
    );
    throw new Error(`Test containers failed to start:\n- ${reasons.join('\n- ')}`);
  }
  const stop = async () => {
    await Promise.all([redis.value.stop(), minio.value.stop()]);
  };
  try {
    const redisHost = redis.value.getHost();
    const redisPort = redis.value.getMappedPort(6379);
    const endPoint = `http://${minio.value.getHost()}:${minio.value.getMappedPort(9000)}`;
    // The wait strategies ran inside testcontainers; check the mapped ports answer from here too.
    await waitFor(() => redisPing(redisHost, redisPort, redisPassword), {
      timeoutMs: 15_000,
      message: 'redis container to answer PING',
    });
    await waitFor(() => httpAnswers(`${endPoint}/minio/health/live`), {
      timeoutMs: 30_000,
      message: 'minio container to answer HTTP',
    });
    return {
      redis: {
        url: `redis://:${redisPassword}@${redisHost}:${redisPort}`,
        host: redisHost,
        port: redisPort,
        password: redisPassword,
        databases: TEST_REDIS_DATABASES,
        flavour: 'container',
      },
      s3: { endPoint, ...MINIO_CREDENTIALS, region: 'us-east-1', flavour: 'minio' },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
