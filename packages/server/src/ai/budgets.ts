import { ParleyError } from '../core/errors.js';

/** Per-user AI limits within a fixed window. */
export interface BudgetLimits {
  windowMs: number;
  /** AI answers a user may ask for per window. */
  requests: number;
  /** Output tokens a user's answers may use per window. */
  tokens: number;
}

interface Usage {
  windowStart: number;
  requests: number;
  tokens: number;
}

/**
 * Per-user request and token budgets of one node, in fixed windows. A request over either limit is
 * refused with `rate_limited` and the time until the window resets, before anything is committed.
 */
export class MemoryBudgets {
  private readonly usage = new Map<string, Usage>();

  constructor(
    private readonly limits: BudgetLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request for the user, or throws `rate_limited` when a budget is spent. */
  charge(tenant: string, userId: string): void {
    const usage = this.current(tenant, userId);
    const spent = usage.requests >= this.limits.requests ? 'requests' : usage.tokens >= this.limits.tokens ? 'tokens' : null;
    if (spent) {
      const resetAt = usage.windowStart + this.limits.windowMs;
      throw new ParleyError('rate_limited', `AI ${spent} budget used up for this period`, {
        retryAfterMs: resetAt - this.now(),
        details: { budget: spent, resetAt, limit: this.limits[spent] },
      });
    }
    usage.requests++;
  }

  /** Gives back a request that was charged but not committed. */
  refund(tenant: string, userId: string): void {
    const usage = this.current(tenant, userId);
    usage.requests = Math.max(0, usage.requests - 1);
  }

  /** Adds the output tokens of a finished answer. */
  addTokens(tenant: string, userId: string, tokens: number): void {
    this.current(tenant, userId).tokens += tokens;
  }

  private current(tenant: string, userId: string): Usage {
    const key = `${tenant}/${userId}`;
    const now = this.now();
    let usage = this.usage.get(key);
    if (!usage || now - usage.windowStart >= this.limits.windowMs) {
      usage = { windowStart: now, requests: 0, tokens: 0 };
      this.usage.set(key, usage);
    }
    return usage;
  }
}
