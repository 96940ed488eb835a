import { z } from 'zod';

/** Error codes a program can act on. The catalogue is closed: servers send nothing else. */
export const ERROR_CODES = [
  'unauthorized', // credentials missing, invalid or expired: get a new token
  'forbidden', // authenticated, but not allowed to do this
  'bad_request', // the frame or its arguments are invalid: fix the request
  'not_found', // the conversation (or other target) does not exist for this tenant
  'conflict', // the request contradicts current state
  'rate_limited', // too many requests: retry after `retryAfterMs`
  'busy', // the server is saturated: retry after `retryAfterMs`
  'too_large', // the frame or content exceeds a size limit
  'unavailable', // a dependency (store, bus) is down, or the server is shutting down: retry
  'internal', // a bug on the server; the request may be retried
  'session_expired', // an HTTP transport session (SSE, HTTP streaming, long-poll) is gone: open a new one and resume by seq
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Whether a client may retry the same request unchanged after this error. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set(['rate_limited', 'busy', 'unavailable', 'internal']);

export const errorBodySchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  retryAfterMs: z.number().int().nonnegative().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/**
 * WebSocket close codes, by range:
 * 4000-4499: the client should reconnect (with backoff) and resume;
 * 4500-4999: the client should not reconnect without changing something (credentials, code).
 */
export const CLOSE_CODES = {
  serverShutdown: 4000,
  slowConsumer: 4001,
  heartbeatTimeout: 4002,
  tokenExpired: 4003,
  authTimeout: 4004,
  tooManyConnections: 4005,
  /** The tenant's backend disconnected the user (server API) and allows a reconnect. */
  disconnectedByServer: 4006,
  unauthorized: 4500,
  policyViolation: 4501,
  unsupportedProtocol: 4502,
  /** The tenant's backend disconnected the user (server API) and asks the client not to reconnect. */
  disconnectedFinal: 4503,
} as const;

export type CloseCodeName = keyof typeof CLOSE_CODES;

/** True when a connection closed with `code` should be re-established by the client. */
export function shouldReconnect(code: number): boolean {
  if (code >= 4500 && code <= 4999) return false;
  // 1008 (policy) and 1002 (protocol error) mean the client did something wrong; everything else is transient.
  return code !== 1008 && code !== 1002;
}
