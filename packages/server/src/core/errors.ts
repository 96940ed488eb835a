import { RETRYABLE_CODES, type ErrorBody, type ErrorCode } from '@parley/protocol';

/** The one error type of the server. Its `code` comes from the protocol's catalogue; transports turn it into replies. */
export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryAfterMs?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ParleyError';
    this.code = code;
    this.retryable = RETRYABLE_CODES.has(code);
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }

  /** The wire form of this error. */
  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.retryAfterMs !== undefined) body.retryAfterMs = Math.ceil(this.retryAfterMs);
    if (this.details !== undefined) body.details = this.details;
    return body;
  }
}

/** The HTTP status of each error code: the one mapping for every HTTP route of the node, whichever module serves it. */
export const HTTP_STATUS_OF = {
  unauthorized: 401,
  forbidden: 403,
  bad_request: 400,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  busy: 503,
  too_large: 413,
  unavailable: 503,
  internal: 500,
  session_expired: 410,
} as const satisfies Record<ErrorCode, number>;

/** The `Retry-After` header's seconds for an error answered with 429 or 503 that says when to retry; else undefined. */
export function retryAfterSeconds(error: ParleyError): number | undefined {
  const status = HTTP_STATUS_OF[error.code];
  if ((status !== 429 && status !== 503) || error.retryAfterMs === undefined) return undefined;
  return Math.max(1, Math.ceil(error.retryAfterMs / 1000));
}

// Network errors, and PostgreSQL's connection-exception (08xxx) and shutdown (57P0x) SQLSTATEs.
const UNAVAILABLE_CODES = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|08...|57P0.)$/;
// What the clients say while their server is unreachable, by error name: ioredis gives up on a command
// queued through `maxRetriesPerRequest` reconnect attempts.
const UNAVAILABLE_NAMES = new Set(['MaxRetriesPerRequestError']);
// ... and by message (these carry no code): pg's lost or timed-out connections (also a full pool past its
// connection timeout), ioredis's commands on a closed connection or an unwritable one without a queue.
const UNAVAILABLE_MESSAGES = /Connection terminated|^timeout exceeded when trying to connect|^Connection is closed\.|^Stream isn't writeable/;

/**
 * Any thrown value as a ParleyError: a dependency that cannot be reached becomes `unavailable` (retry,
 * perhaps on another node), anything else `internal`; the original is kept as `cause`.
 */
export function toParleyError(error: unknown): ParleyError {
  if (error instanceof ParleyError) return error;
  if (isUnavailable(error)) return new ParleyError('unavailable', 'a service Parley depends on is unavailable; retry shortly', { retryAfterMs: 1000, cause: error });
  return new ParleyError('internal', 'internal server error', { cause: error });
}

function isUnavailable(error: unknown): boolean {
  const { code, name, message } = (error ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
  return (
    (typeof code === 'string' && UNAVAILABLE_CODES.test(code)) ||
    (typeof name === 'string' && UNAVAILABLE_NAMES.has(name)) ||
    (typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message))
  );
}

/** The error for a spent AI budget: `rate_limited` with the time until its window resets. */
export function budgetSpentError(budget: 'requests' | 'tokens', resetAt: number, limit: number, now: number): ParleyError {
  return new ParleyError('rate_limited', `AI ${budget} budget used up for this period`, {
    retryAfterMs: Math.max(0, resetAt - now),
    details: { budget, resetAt, limit },
  });
}

/** The AI job queue is full: the sender should try again shortly. */
export function queueFullError(): ParleyError {
  return new ParleyError('busy', 'the assistant is saturated; try again shortly', { retryAfterMs: 1000 });
}

/** The `reject` double-texting policy refuses a message while the assistant answers an earlier one. */
export function assistantBusyError(): ParleyError {
  return new ParleyError('conflict', 'the assistant is still answering; wait for it or stop it', { details: { policy: 'reject' } });
}
