import type { ErrorCode } from '@parley/protocol';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ParleyError, toParleyError } from '../core/errors.js';

/** The HTTP status of each error code: the one mapping for every route. */
export const STATUS_OF: Record<ErrorCode, ContentfulStatusCode> = {
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
};

/** Any error thrown by a route as a ParleyError (hono's own exceptions keep their meaning). */
export function asParleyError(error: unknown): ParleyError {
  if (error instanceof HTTPException) {
    if (error.status === 413) return new ParleyError('too_large', 'request body too large');
    if (error.status === 415) return new ParleyError('bad_request', 'send the body as JSON, with Content-Type: application/json');
    if (error.status === 400) return new ParleyError('bad_request', error.message || 'malformed request');
  }
  return toParleyError(error);
}

/** The JSON error response: `{ error: { code, message, retryAfterMs?, details? } }`, with `Retry-After` on 429 and 503. */
export function errorResponse(context: Context, error: ParleyError): Response {
  const status = STATUS_OF[error.code];
  if ((status === 429 || status === 503) && error.retryAfterMs !== undefined) {
    context.header('Retry-After', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
  }
  return context.json({ error: error.toBody() }, status);
}
