import { budgetSpentError } from '../core/errors.js';
import type { UsageBudgets } from '../core/ports.js';
import type { BudgetLimits } from '../core/types.js';

export type { BudgetLimits };

const SWEEP_EVERY = 1000;

interface Usage {
  windowStart: number;
  requests: number;
  tokens: number;
}

/**
 * Per-user request and token budgets of one node, in fixed windows. A request over either limit is
 * refused with `rate_limited` and the time until the window resets, before anything is committed.
 */
export class MemoryBudgets implements UsageBudgets {
  private readonly usage = new Map<string, Usage>();
  private charges = 0;

  constructor(
    private readonly limits: BudgetLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request for the user, or throws `rate_limited` when a budget is spent. */
  async charge(tenant: string, userId: string): Promise<() => Promise<void>> {
    this.sweep();
    const usage = this.current(tenant, userId);
    const spent = usage.requests >= this.limits.requests ? 'requests' : usage.tokens >= this.limits.tokens ? 'tokens' : null;
    if (spent) throw budgetSpentError(spent, usage.windowStart + this.limits.windowMs, this.limits[spent], this.now());
    usage.requests++;
    let refunded = false;
    return async () => {
      if (refunded) return;
      refunded = true;
      usage.requests = Math.max(0, usage.requests - 1); // the charged window's usage, even if a new one began
    };
  }

  /** Adds the output tokens of a finished answer. */
  async addTokens(tenant: string, userId: string, tokens: number): Promise<void> {
    this.current(tenant, userId).tokens += tokens;
  }

  /** Forgets users whose window has passed, now and then, so the map holds only recent users. */
  private sweep(): void {
    if (++this.charges % SWEEP_EVERY !== 0) return;
    const now = this.now();
    for (const [key, usage] of this.usage) if (now - usage.windowStart >= this.limits.windowMs) this.usage.delete(key);
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

