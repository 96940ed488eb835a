/** Reconnect and retry delays: the first ceiling and the largest one. */
export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
}

/** The defaults of ParleyClient's `reconnect` option. */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = { initialDelayMs: 250, maxDelayMs: 10_000 };

// 2^52 already exceeds any sensible cap; bounding the exponent keeps the product finite.
const MAX_EXPONENT = 52;

/** The longest delay before retry number `attempt` (0-based): the initial delay doubled per attempt, capped. */
export function backoffCeiling(attempt: number, options: BackoffOptions): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), MAX_EXPONENT);
  return Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exponent);
}

/**
 * The delay before retry number `attempt`, with full jitter: uniform between 0 and the ceiling, so that
 * many clients dropped at once do not come back at once. `random` returns a number in [0, 1).
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, options));
}
