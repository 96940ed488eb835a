import { createRoute, z } from '@hono/zod-openapi';
import { widgetKeyInputSchema, widgetKeyPatchSchema, widgetKeySchema, widgetKeyViewSchema, widgetSecretResultSchema, widgetSecretStateSchema } from '@parley/protocol';
import { requireTenantAdmin } from '../../auth/authorization.js';
import type { WidgetAdmin } from '../../core/ports.js';
import type { Principal } from '../../core/types.js';
import { bearer, errorResponses, jsonBody, jsonResponse, type ApiApp } from './common.js';

const keyParams = z.object({ key: widgetKeySchema.describe('The widget key (pwk_...)') });
const keyResult = z.object({ widgetKey: widgetKeyViewSchema });

const routes = {
  create: createRoute({
    method: 'post', path: '/widget-keys', tags: ['widget'], security: bearer,
    summary: 'Create a public widget key for the sites (origins) that may embed the chat and mint guest tokens with it',
    request: { body: jsonBody(widgetKeyInputSchema) },
    responses: { 201: jsonResponse(keyResult, 'The key'), ...errorResponses },
  }),
  list: createRoute({
    method: 'get', path: '/widget-keys', tags: ['widget'], security: bearer, summary: "The tenant's widget keys",
    responses: { 200: jsonResponse(z.object({ widgetKeys: z.array(widgetKeyViewSchema) }), 'Newest first, revoked ones included'), ...errorResponses },
  }),
  get: createRoute({
    method: 'get', path: '/widget-keys/{key}', tags: ['widget'], security: bearer, summary: 'One widget key',
    request: { params: keyParams },
    responses: { 200: jsonResponse(keyResult, 'The key'), ...errorResponses },
  }),
  update: createRoute({
    method: 'patch', path: '/widget-keys/{key}', tags: ['widget'], security: bearer, summary: 'Rename a widget key or change its allowed origins',
    request: { params: keyParams, body: jsonBody(widgetKeyPatchSchema) },
    responses: { 200: jsonResponse(keyResult, 'The key'), ...errorResponses },
  }),
  revoke: createRoute({
    method: 'delete', path: '/widget-keys/{key}', tags: ['widget'], security: bearer, summary: 'Revoke a widget key: it mints no more tokens and its frame no longer loads',
    request: { params: keyParams },
    responses: { 204: { description: 'Revoked' }, ...errorResponses },
  }),
  secretState: createRoute({
    method: 'get', path: '/widget-secret', tags: ['widget'], security: bearer, summary: 'Whether the tenant verifies user ids claimed through the widget',
    responses: { 200: jsonResponse(widgetSecretStateSchema, 'Configured or not, and since when'), ...errorResponses },
  }),
  rotateSecret: createRoute({
    method: 'post', path: '/widget-secret', tags: ['widget'], security: bearer,
    summary: 'Set a new widget secret (replacing any): claimed user ids then need userHash = HMAC-SHA256(secret, userId); shown only in this answer',
    responses: { 200: jsonResponse(widgetSecretResultSchema, 'The secret, shown once'), ...errorResponses },
  }),
  deleteSecret: createRoute({
    method: 'delete', path: '/widget-secret', tags: ['widget'], security: bearer, summary: 'Remove the widget secret: the widget then mints guest tokens only',
    responses: { 204: { description: 'Removed' }, ...errorResponses },
  }),
};

/** Widget keys and the widget secret: `widgets:read` to look, `widgets:write` to change (admins too). */
export function registerWidgetKeyRoutes(app: ApiApp, widgets: WidgetAdmin): void {
  app.openapi(routes.create, async (context) => {
    const principal = context.get('principal');
    return context.json({ widgetKey: await widgets.createKey(writer(principal), principal.userId, context.req.valid('json')) }, 201);
  });
  app.openapi(routes.list, async (context) => context.json({ widgetKeys: await widgets.listKeys(reader(context.get('principal'))) }, 200));
  app.openapi(routes.get, async (context) => context.json({ widgetKey: await widgets.getKey(reader(context.get('principal')), context.req.valid('param').key) }, 200));
  app.openapi(routes.update, async (context) =>
    context.json({ widgetKey: await widgets.updateKey(writer(context.get('principal')), context.req.valid('param').key, context.req.valid('json')) }, 200),
  );
  app.openapi(routes.revoke, async (context) => {
    await widgets.revokeKey(writer(context.get('principal')), context.req.valid('param').key);
    return context.body(null, 204);
  });
  app.openapi(routes.secretState, async (context) => context.json(await widgets.secretState(reader(context.get('principal'))), 200));
  app.openapi(routes.rotateSecret, async (context) => context.json(await widgets.rotateSecret(writer(context.get('principal'))), 200));
  app.openapi(routes.deleteSecret, async (context) => {
    await widgets.deleteSecret(writer(context.get('principal')));
    return context.body(null, 204);
  });
}

function reader(principal: Principal): string {
  return requireTenantAdmin(principal, 'widgets:read', 'only admins and API keys with the widgets scopes see widget keys');
}

function writer(principal: Principal): string {
  return requireTenantAdmin(principal, 'widgets:write', 'only admins and API keys with widgets:write manage widget keys');
}
