import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for state and queues. `maxRetriesPerRequest: null` is what BullMQ requires
 * for blocking connections; we use it everywhere so a Redis restart stalls calls instead of failing them.
 */
export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false, ...opts });
}
