import { createRoute, z } from '@hono/zod-openapi';
import { apiKeyViewSchema, createKeyBodySchema, createKeyResultSchema, disconnectBodySchema, mintTokenBodySchema, mintTokenResultSchema, notifyBodySchema } from '@parley/protocol';
import type { ApiKeys } from '../../auth/api-keys.js';
import { requireScope, requireTenantAdmin } from '../../auth/authorization.js';
import type { ConversationService } from '../../conversations/service.js';
import { ParleyError } from '../../core/errors.js';
import type { Principal } from '../../core/types.js';
import { bearer, errorResponses, jsonBody, jsonResponse, userParams, type ApiApp } from './common.js';

/** Signs end-user tokens for the caller's tenant; absent when the server holds no signing key (JWKS only). */
export type TokenMinter = (claims: { tenant: string; userId: string; roles: Array<'user' | 'agent'>; ttlSeconds: number }) => Promise<string>;

const keyParams = z.object({ keyId: z.string().min(1).max(64).describe('The key id (the part of the key before the dot, without psk_)') });

const routes = {
  notify: createRoute({
    method: 'post', path: '/users/{userId}/notify', tags: ['users'], security: bearer,
    summary: "Send a notice to every connection of the user, on every node (a `notification` push); not stored",
    request: { params: userParams, body: jsonBody(notifyBodySchema) },
    responses: { 202: jsonResponse(z.object({ id: z.string() }), 'Sent to the nodes'), ...errorResponses },
  }),
  disconnect: createRoute({
    method: 'post', path: '/users/{userId}/disconnect', tags: ['users'], security: bearer,
    summary: 'Close every connection of the user on every node (4006 may reconnect, 4503 must not)',
    request: { params: userParams, body: jsonBody(disconnectBodySchema) },
    responses: { 202: jsonResponse(z.object({}), 'Sent to the nodes'), ...errorResponses },
  }),
  mintToken: createRoute({
    method: 'post', path: '/tokens', tags: ['tokens'], security: bearer,
    summary: "Mint an end-user token for the key's tenant (so a backend need not hold the signing secret)",
    request: { body: jsonBody(mintTokenBodySchema) },
    responses: { 201: jsonResponse(mintTokenResultSchema, 'The token'), ...errorResponses },
  }),
  createKey: createRoute({
    method: 'post', path: '/keys', tags: ['keys'], security: bearer,
    summary: 'Create an API key of the tenant; its secret is in this response only',
    request: { body: jsonBody(createKeyBodySchema) },
    responses: { 201: jsonResponse(createKeyResultSchema, 'The key, shown once'), ...errorResponses },
  }),
  listKeys: createRoute({
    method: 'get', path: '/keys', tags: ['keys'], security: bearer, summary: "The tenant's API keys, without secrets",
    responses: { 200: jsonResponse(z.object({ apiKeys: z.array(apiKeyViewSchema) }), 'Newest first, revoked ones included'), ...errorResponses },
  }),
  revokeKey: createRoute({
    method: 'delete', path: '/keys/{keyId}', tags: ['keys'], security: bearer, summary: 'Revoke an API key (on every node within seconds)',
    request: { params: keyParams },
    responses: { 204: { description: 'Revoked' }, ...errorResponses },
  }),
};

/** Users (notify, disconnect), token minting and API key management. */
export function registerUserRoutes(app: ApiApp, conversations: ConversationService, keys: ApiKeys, mintToken: TokenMinter | undefined): void {
  app.openapi(routes.notify, async (context) => {
    const { data } = context.req.valid('json');
    return context.json(await conversations.notify(context.get('principal'), context.req.valid('param').userId, data), 202);
  });
  app.openapi(routes.disconnect, async (context) => {
    const { reconnect } = context.req.valid('json');
    await conversations.disconnectUser(context.get('principal'), context.req.valid('param').userId, reconnect);
    return context.json({}, 202);
  });
  app.openapi(routes.mintToken, async (context) => {
    const principal = context.get('principal');
    const { userId, roles, ttlSeconds } = context.req.valid('json');
    requireMinting(principal, roles);
    if (!mintToken) throw new ParleyError('unavailable', 'this server holds no signing key (set PARLEY_JWT_SECRET); tokens come from your identity provider');
    const token = await mintToken({ tenant: principal.tenant, userId, roles: [...new Set(roles)], ttlSeconds });
    return context.json({ token, expiresAt: Date.now() + ttlSeconds * 1000 }, 201);
  });
  app.openapi(routes.createKey, async (context) => {
    const principal = requireKeyAdmin(context.get('principal'));
    const { key, view } = await keys.create(principal.tenant, context.req.valid('json'), principal.userId);
    return context.json({ key, apiKey: view }, 201);
  });
  app.openapi(routes.listKeys, async (context) => {
    const principal = requireKeyAdmin(context.get('principal'));
    return context.json({ apiKeys: await keys.list(principal.tenant) }, 200);
  });
  app.openapi(routes.revokeKey, async (context) => {
    const principal = requireKeyAdmin(context.get('principal'));
    await keys.revoke(principal.tenant, context.req.valid('param').keyId);
    return context.body(null, 204);
  });
}

/** Keys mint with `tokens:write` (and `tokens:agent` for agents); among users only admins mint. */
function requireMinting(principal: Principal, roles: Array<'user' | 'agent'>): void {
  if (principal.kind === 'user') {
    if (!principal.roles.includes('admin')) throw new ParleyError('forbidden', 'only admins and API keys mint tokens');
    return;
  }
  requireScope(principal, 'tokens:write');
  if (roles.includes('agent')) requireScope(principal, 'tokens:agent');
}

/** Keys are managed by admins of the tenant, or with a key holding `keys:write`. */
function requireKeyAdmin(principal: Principal): Principal {
  requireTenantAdmin(principal, 'keys:write', 'only admins and API keys with keys:write manage API keys');
  return principal;
}
