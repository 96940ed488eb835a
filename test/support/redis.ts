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
      await deleteKeys(redis, prefix);
      await redis.quit();
    },
  };
}

/** Deletes every key under `prefix`: what a test's server processes left in the shared Redis. */
export async function deleteTestKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    await deleteKeys(redis, prefix);
  } finally {
    await redis.quit();
  }
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
}
