import { TokenBucket } from '../../core/token-bucket.js';
import type { UserRateLimits } from '../../core/ports.js';

// Takes between sweeps of buckets that refilled (their users went quiet).
const SWEEP_EVERY = 1000;

/** A token bucket per user in this process. */
export class MemoryUserRateLimits implements UserRateLimits {
  private readonly buckets = new Map<string, TokenBucket>();
  private takes = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {}

  async take(tenant: string, userId: string): Promise<number> {
    if (++this.takes % SWEEP_EVERY === 0) for (const [key, bucket] of this.buckets) if (bucket.full) this.buckets.delete(key);
    const key = `${tenant}/${userId}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.ratePerSecond, this.burst);
      this.buckets.set(key, bucket);
    }
    return bucket.take();
  }
}
