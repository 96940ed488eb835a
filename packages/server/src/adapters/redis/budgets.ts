import type { Redis } from 'ioredis';
import { budgetSpentError } from '../../core/errors.js';
import type { UsageBudgets } from '../../core/ports.js';
import type { BudgetLimits } from '../../core/types.js';
import { defineScripts } from './scripts.js';

interface BudgetCommands {
  budgetCharge(key: string, requestLimit: number, tokenLimit: number, expireAt: number): Promise<[number, string]>;
  budgetRefund(key: string): Promise<number>;
}

/**
 * Per-user AI budgets shared by every node: a hash per user and fixed window (`requests`, `tokens`) that
 * expires with its window. Windows are aligned to the epoch, so every node agrees on them.
 */
export class RedisBudgets implements UsageBudgets {
  private readonly redis: Redis & BudgetCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly limits: BudgetLimits,
  ) {
    this.redis = redis as Redis & BudgetCommands;
    defineScripts(redis, { budgetCharge: 'budget-charge-1.lua', budgetRefund: 'budget-refund-1.lua' });
  }

  async charge(tenant: string, userId: string): Promise<() => Promise<void>> {
    const { key, resetAt } = this.window(tenant, userId);
    const [allowed, budget] = await this.redis.budgetCharge(key, this.limits.requests, this.limits.tokens, resetAt);
    if (allowed !== 1) {
      const spent = budget as 'requests' | 'tokens';
      throw budgetSpentError(spent, resetAt, this.limits[spent], Date.now());
    }
    // The refund goes to the window that was charged, even after the next one began; once per charge.
    let refunded = false;
    return async () => {
      if (refunded) return;
      refunded = true;
      await this.redis.budgetRefund(key);
    };
  }

  async addTokens(tenant: string, userId: string, tokens: number): Promise<void> {
    const { key, resetAt } = this.window(tenant, userId);
    await this.redis.multi().hincrby(key, 'tokens', tokens).pexpireat(key, resetAt).exec();
  }

  private window(tenant: string, userId: string): { key: string; resetAt: number } {
    const start = Math.floor(Date.now() / this.limits.windowMs) * this.limits.windowMs;
    return { key: `${this.prefix}:budget:{${tenant}/${userId}}:${start}`, resetAt: start + this.limits.windowMs };
  }
}
