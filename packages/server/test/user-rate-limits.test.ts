import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { redisTestPrefix, REDIS_URL } from '../../../test/support/redis.js';
import { MemoryUserRateLimits } from '../src/adapters/memory/user-rate-limits.js';
import { RedisUserRateLimits } from '../src/adapters/redis/user-rate-limits.js';
import type { UserRateLimits } from '../src/core/ports.js';

const redisPrefix = redisTestPrefix('rates');
const connections: Redis[] = [];
afterAll(async () => {
  await redisPrefix.cleanup();
  for (const connection of connections) connection.disconnect();
});

/** Another node's view of the same limits (its own connection, ready), where the adapter is shared. */
async function redisNode(ratePerSecond: number, burst: number): Promise<UserRateLimits> {
  const connection = new Redis(REDIS_URL);
  connections.push(connection);
  await connection.ping();
  return new RedisUserRateLimits(connection, redisPrefix.prefix, ratePerSecond, burst);
}

const factories = [
  { name: 'memory', open: async (rate: number, burst: number): Promise<UserRateLimits> => new MemoryUserRateLimits(rate, burst) },
  { name: 'redis', open: redisNode },
];

let counter = 0;
const user = () => `rate-user-${process.pid}-${++counter}`;

describe.each(factories)('UserRateLimits conformance: $name', (factory) => {
  it('grants the burst, then refuses with the wait until the next unit', async () => {
    const limits = await factory.open(2, 3);
    const alice = user();
    const waits = [];
    for (let index = 0; index < 5; index++) waits.push(await limits.take('acme', alice));
    expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
    for (const wait of waits.slice(3)) {
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(500);
    }
  });

  it('keeps users and tenants apart', async () => {
    const limits = await factory.open(1, 1);
    const name = user();
    expect(await limits.take('acme', name)).toBe(0);
    expect(await limits.take('acme', name)).toBeGreaterThan(0);
    expect(await limits.take('acme', user())).toBe(0);
    expect(await limits.take('other-tenant', name)).toBe(0);
  });
});

describe('RedisUserRateLimits across nodes', () => {
  it('one bucket per user, whichever node the user is connected to', async () => {
    const [first, second] = [await redisNode(1, 4), await redisNode(1, 4)];
    const name = user();
    const waits = [await first.take('acme', name), await second.take('acme', name), await first.take('acme', name), await second.take('acme', name)];
    expect(waits).toEqual([0, 0, 0, 0]);
    expect(await second.take('acme', name)).toBeGreaterThan(0);
    expect(await first.take('acme', name)).toBeGreaterThan(0);
  });

  it('the bucket expires once it would be full again', async () => {
    const limits = await redisNode(50, 5);
    const name = user();
    await limits.take('acme', name);
    const ttl = await connections.at(-1)!.pttl(`${redisPrefix.prefix}:rate:{acme/${name}}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(100 + 1000);
  });

  it('while Redis cannot be reached, applies the limit on this node instead of failing sends', async () => {
    const unreachable = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, retryStrategy: () => null });
    unreachable.on('error', () => undefined);
    connections.push(unreachable);
    const limits = new RedisUserRateLimits(unreachable, redisPrefix.prefix, 1, 2);
    const name = user();
    expect([await limits.take('acme', name), await limits.take('acme', name)]).toEqual([0, 0]);
    expect(await limits.take('acme', name)).toBeGreaterThan(0);
  });
});
