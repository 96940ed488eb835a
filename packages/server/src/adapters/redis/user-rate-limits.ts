import type { Redis } from 'ioredis';
import type { UserRateLimits } from '../../core/ports.js';
import { MemoryUserRateLimits } from '../memory/user-rate-limits.js';
import { defineScripts } from './scripts.js';

interface RateCommands {
  rateTake(bucket: string, ratePerSecond: number, burst: number): Promise<number>;
}

/**
 * A token bucket per user in Redis (a hash that expires once it has refilled), shared by every node.
 * While Redis cannot be reached, each node applies the same limit on its own: chat goes on (PostgreSQL is
 * the commit point, not Redis), and a user is held to at most the limit per node.
 */
export class RedisUserRateLimits implements UserRateLimits {
  private readonly redis: Redis & RateCommands;
  private readonly fallback: MemoryUserRateLimits;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {
    this.redis = redis as Redis & RateCommands;
    this.fallback = new MemoryUserRateLimits(ratePerSecond, burst);
    defineScripts(redis, { rateTake: 'rate-take-1.lua' });
  }

  async take(tenant: string, userId: string): Promise<number> {
    // Not waiting for reconnects: a send must not stall on the limiter.
    if (this.redis.status !== 'ready') return this.fallback.take(tenant, userId);
    try {
      return await this.redis.rateTake(`${this.prefix}:rate:{${tenant}/${userId}}`, this.ratePerSecond, this.burst);
    } catch {
      return this.fallback.take(tenant, userId);
    }
  }
}
