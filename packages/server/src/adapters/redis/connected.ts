import type { Redis } from 'ioredis';
import { ParleyError } from '../../core/errors.js';

// Lost and waiting for the next reconnect attempt, or closed for good. Not the first connect, which
// completes in moments: commands queued during it go out as soon as it does.
const DOWN_STATUSES = new Set(['reconnecting', 'close', 'end']);

/** Whether `redis` has lost its connection (see DOWN_STATUSES). */
export function isDown(redis: Redis): boolean {
  return DOWN_STATUSES.has(redis.status);
}

/**
 * Throws `unavailable` at once while `redis` has lost its connection. Without it a command waits in
 * ioredis's offline queue through several reconnect attempts (seconds, once the backoff has grown) before
 * it fails: a request that needs Redis while it is down is better answered now.
 */
export function requireConnected(redis: Redis): void {
  if (isDown(redis)) throw new ParleyError('unavailable', 'Redis is unreachable; retry shortly', { retryAfterMs: 1000 });
}
