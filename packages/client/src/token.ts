import { ParleyClientError } from './errors.js';

/**
 * A bearer token, or a function returning a fresh one. A function is called on every (re)connect and
 * again before the token expires, so short-lived tokens never interrupt the connection.
 */
export type TokenSource = string | (() => string | Promise<string>);

/** The share of a token's remaining lifetime after which the client refreshes it. */
export const REFRESH_AT_SHARE = 0.8;

// Never refresh more often than this, even if the server's clock makes the token look (nearly) expired.
const MIN_REFRESH_DELAY_MS = 1_000;
// The longest delay setTimeout accepts; longer ones fire at once.
const MAX_TIMER_MS = 2_147_483_647;

/** The current token of a source. A provider that throws gives a retryable error; an empty token does not. */
export async function fetchToken(source: TokenSource): Promise<string> {
  let token: unknown;
  try {
    token = typeof source === 'function' ? await source() : source;
  } catch (error) {
    throw new ParleyClientError('unavailable', 'the token provider failed', { cause: error });
  }
  if (typeof token !== 'string' || token.length === 0) {
    throw new ParleyClientError('unauthorized', 'the token provider returned no token');
  }
  return token;
}

/** Milliseconds from `now` until a token expiring at `expiresAt` should be refreshed: 80% of what is left of it. */
export function refreshDelay(expiresAt: number, now: number): number {
  const delay = Math.floor((expiresAt - now) * REFRESH_AT_SHARE);
  return Math.min(Math.max(delay, MIN_REFRESH_DELAY_MS), MAX_TIMER_MS);
}
