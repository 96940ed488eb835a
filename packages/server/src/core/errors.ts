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

/** Any thrown value as a ParleyError; unknown failures become `internal` and keep the original as `cause`. */
export function toParleyError(error: unknown): ParleyError {
  if (error instanceof ParleyError) return error;
  return new ParleyError('internal', 'internal server error', { cause: error });
}

/** The error for a spent AI budget: `rate_limited` with the time until its window resets. */
export function budgetSpentError(budget: 'requests' | 'tokens', resetAt: number, limit: number, now: number): ParleyError {
  return new ParleyError('rate_limited', `AI ${budget} budget used up for this period`, {
    retryAfterMs: Math.max(0, resetAt - now),
    details: { budget, resetAt, limit },
  });
}
