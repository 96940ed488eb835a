/** Per-user rate limits that hold across every node sharing the adapter (a user may connect to several). */
export interface UserRateLimits {
  /** Takes one unit of the user's rate; returns 0 when granted, else the milliseconds until one is available. */
  take(tenant: string, userId: string): Promise<number>;
}
