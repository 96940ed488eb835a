import { Redis } from 'ioredis';

export const REDIS_URL = process.env.PARLEY_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of a test's own, and a function that deletes every key under it. */
export function redisTestPrefix(name: string): { prefix: string; redis: Redis; cleanup(): Promise<void> } {
  const prefix = `parley-test-${name}-${process.pid}-${Date.now()}`;
  const redis = new Redis(REDIS_URL);
  return {
    prefix,
    redis,
    cleanup: async () => {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  };
}
