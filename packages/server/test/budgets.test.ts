import { describe, expect, it } from 'vitest';
import { MemoryBudgets } from '../src/ai/budgets.js';
import { RedisBudgets } from '../src/adapters/redis/budgets.js';
import type { UsageBudgets } from '../src/core/ports.js';
import type { BudgetLimits } from '../src/core/types.js';
import { redisTestPrefix } from '../../../test/support/redis.js';


const factories: Array<{ name: string; open(limits: BudgetLimits): Promise<{ budgets: UsageBudgets; close(): Promise<void> }> }> = [
  { name: 'memory', open: async (limits) => ({ budgets: new MemoryBudgets(limits), close: async () => undefined }) },
  {
    name: 'redis',
    open: async (limits) => {
      const { prefix, redis, cleanup } = redisTestPrefix('budgets');
      return { budgets: new RedisBudgets(redis, prefix, limits), close: cleanup };
    },
  },
];

describe.each(factories)('UsageBudgets conformance: $name', (factory) => {
  it('counts requests and tokens per user and refuses past either limit with the reset time', async () => {
    const { budgets, close } = await factory.open({ windowMs: 60_000, requests: 2, tokens: 100 });
    try {
      await budgets.charge('acme', 'alice');
      const refundSecond = await budgets.charge('acme', 'alice');
      const refused = await budgets.charge('acme', 'alice').catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 'rate_limited', details: { budget: 'requests', limit: 2 } });
      const { retryAfterMs, details } = refused as { retryAfterMs: number; details: { resetAt: number } };
      expect(retryAfterMs).toBeGreaterThan(0);
      expect(retryAfterMs).toBeLessThanOrEqual(60_000);
      expect(details.resetAt).toBeGreaterThan(Date.now());
      await refundSecond();
      await refundSecond(); // a second refund of one charge changes nothing more
      await budgets.charge('acme', 'alice');
      await expect(budgets.charge('acme', 'alice')).rejects.toMatchObject({ code: 'rate_limited' });
      // Other users and tenants have budgets of their own.
      await budgets.charge('acme', 'bob');
      await budgets.charge('other', 'alice');
      await budgets.addTokens('acme', 'bob', 100);
      await expect(budgets.charge('acme', 'bob')).rejects.toMatchObject({ code: 'rate_limited', details: { budget: 'tokens' } });
    } finally {
      await close();
    }
  });
});
