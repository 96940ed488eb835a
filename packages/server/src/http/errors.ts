import type { ErrorCode } from '@parley/protocol';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { HTTP_STATUS_OF, ParleyError, retryAfterSeconds, toParleyError } from '../core/errors.js';

/** The HTTP status of each error code: the one mapping for every route. */
export const STATUS_OF: Record<ErrorCode, ContentfulStatusCode> = HTTP_STATUS_OF;

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
  const retryAfter = retryAfterSeconds(error);
  if (retryAfter !== undefined) context.header('Retry-After', String(retryAfter));
  return context.json({ error: error.toBody() }, STATUS_OF[error.code]);
}
