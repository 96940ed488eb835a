import { errorBodySchema, type ErrorBody, type ErrorCode } from '@parley/protocol';
import { ParleyClientError } from './errors.js';

/** The codes a ParleyApiError carries: the protocol's, a `timeout`, or `disconnected` (no answer came: network). */
export type ApiErrorCode = ErrorCode | 'timeout' | 'disconnected';

/** Extra facts about a ParleyApiError. */
export interface ParleyApiErrorOptions {
  status?: number | undefined;
  retryAfterMs?: number | undefined;
  details?: Record<string, unknown> | undefined;
  cause?: unknown;
}

/**
 * The error of every failed server API call: the protocol's `code`, `message`, `details` and `retryAfterMs`
 * (from the body, else the `Retry-After` header), and the HTTP `status` (undefined when no answer came).
 * It is a ParleyClientError, so one `instanceof` covers both SDKs.
 */
export class ParleyApiError extends ParleyClientError {
  declare readonly code: ApiErrorCode;
  /** The HTTP status of the answer; undefined for a timeout or a network failure. */
  readonly status: number | undefined;

  constructor(code: ApiErrorCode, message: string, options: ParleyApiErrorOptions = {}) {
    super(code, message, { retryAfterMs: options.retryAfterMs, details: options.details, cause: options.cause });
    this.name = 'ParleyApiError';
    this.status = options.status;
  }
}

// What an answer without a protocol error body means, by status (a proxy's 502 page, a load balancer's 503).
const CODE_OF_STATUS: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [400, 'bad_request'],
  [401, 'unauthorized'],
  [403, 'forbidden'],
  [404, 'not_found'],
  [409, 'conflict'],
  [413, 'too_large'],
  [422, 'bad_request'],
  [429, 'rate_limited'],
  [502, 'unavailable'],
  [503, 'unavailable'],
  [504, 'unavailable'],
]);

/** The error of a non-2xx answer, from its `{ error }` body when it has one, else from its status. */
export async function errorFromResponse(response: Response): Promise<ParleyApiError> {
  const headerDelay = parseRetryAfter(response.headers.get('retry-after'), Date.now());
  const body = await readErrorBody(response);
  if (body) {
    return new ParleyApiError(body.code, body.message, { status: response.status, retryAfterMs: body.retryAfterMs ?? headerDelay, details: body.details });
  }
  const code = CODE_OF_STATUS.get(response.status) ?? (response.status >= 500 ? 'internal' : 'bad_request');
  return new ParleyApiError(code, `the server answered HTTP ${response.status}`, { status: response.status, retryAfterMs: headerDelay });
}

async function readErrorBody(response: Response): Promise<ErrorBody | null> {
  try {
    const parsed = errorBodySchema.safeParse(((await response.json()) as { error?: unknown } | null)?.error);
    return parsed.success ? parsed.data : null;
  } catch {
    return null; // not JSON: a page from something in front of the server
  }
}

/** `Retry-After` in milliseconds: delay-seconds or an HTTP date (RFC 9110); undefined when absent or invalid. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
