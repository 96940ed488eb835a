import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { apiErrorSchema, identifierSchema } from '@parley/protocol';
import type { ApiEnv } from '../authenticate.js';

/** The API's router type. */
export type ApiApp = OpenAPIHono<ApiEnv>;

/** The `{id}` of a conversation route. */
export const conversationParams = z.object({ id: identifierSchema.describe('The conversation id') });
export const userParams = z.object({ userId: identifierSchema.describe('The user id') });

/** A JSON body for a route's request. */
export function jsonBody<Schema extends z.ZodType>(schema: Schema, description?: string) {
  return { content: { 'application/json': { schema } }, required: true, ...(description ? { description } : {}) };
}

/** A JSON response. */
export function jsonResponse<Schema extends z.ZodType>(schema: Schema, description: string) {
  return { content: { 'application/json': { schema } }, description };
}

/** The error responses every authenticated route may give. */
export const errorResponses = {
  400: jsonResponse(apiErrorSchema, 'bad_request: the body, query or path is invalid'),
  401: jsonResponse(apiErrorSchema, 'unauthorized: missing, invalid or revoked credential'),
  403: jsonResponse(apiErrorSchema, "forbidden: the key lacks a scope, or the user may not do this"),
  404: jsonResponse(apiErrorSchema, 'not_found: no such conversation (or other target) in this tenant'),
  413: jsonResponse(apiErrorSchema, 'too_large: the body exceeds the limit'),
  429: jsonResponse(apiErrorSchema, 'rate_limited: retry after the Retry-After header'),
  503: jsonResponse(apiErrorSchema, 'busy or unavailable: retry after the Retry-After header'),
} as const;

/** The security requirement of every API route. */
export const bearer = [{ bearer: [] }];
