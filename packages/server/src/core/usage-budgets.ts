/** Per-user AI budgets in fixed windows, shared by the nodes that share the adapter. */
export interface UsageBudgets {
  /**
   * Counts one AI request of the user, or throws ParleyError `rate_limited` (with the reset time) when a
   * budget is spent. Returns the refund for a request that is then not committed: once, to the same window,
   * never below 0.
   */
  charge(tenant: string, userId: string): Promise<() => Promise<void>>;
  /** Adds the output tokens of a finished answer. */
  addTokens(tenant: string, userId: string, tokens: number): Promise<void>;
}
