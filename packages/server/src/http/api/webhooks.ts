import { createRoute, z } from '@hono/zod-openapi';
import {
  webhookDeliveryPageSchema,
  webhookDeliveryQuerySchema,
  webhookDeliverySchema,
  webhookEndpointInputSchema,
  webhookEndpointPatchSchema,
  webhookEndpointSchema,
  webhookEndpointWithSecretSchema,
  webhookIdSchema,
} from '@parley/protocol';
import { requireTenantAdmin } from '../../auth/authorization.js';
import type { WebhookAdmin } from '../../core/ports.js';
import type { Principal } from '../../core/types.js';
import { bearer, errorResponses, jsonBody, jsonResponse, type ApiApp } from './common.js';

const endpointParams = z.object({ endpointId: webhookIdSchema.describe('The endpoint id (we_...)') });
const deliveryParams = z.object({ deliveryId: webhookIdSchema.describe('The delivery id (wd_...)') });

const routes = {
  create: createRoute({
    method: 'post', path: '/webhooks', tags: ['webhooks'], security: bearer,
    summary: "Add an endpoint that receives the tenant's events (signed by Standard Webhooks); its secret is in this response only",
    request: { body: jsonBody(webhookEndpointInputSchema) },
    responses: { 201: jsonResponse(webhookEndpointWithSecretSchema, 'The endpoint and its signing secret'), ...errorResponses },
  }),
  list: createRoute({
    method: 'get', path: '/webhooks', tags: ['webhooks'], security: bearer, summary: "The tenant's endpoints",
    responses: { 200: jsonResponse(z.object({ endpoints: z.array(webhookEndpointSchema) }), 'Endpoints, without secrets'), ...errorResponses },
  }),
  get: createRoute({
    method: 'get', path: '/webhooks/{endpointId}', tags: ['webhooks'], security: bearer, summary: 'One endpoint',
    request: { params: endpointParams },
    responses: { 200: jsonResponse(z.object({ endpoint: webhookEndpointSchema }), 'The endpoint'), ...errorResponses },
  }),
  update: createRoute({
    method: 'patch', path: '/webhooks/{endpointId}', tags: ['webhooks'], security: bearer, summary: 'Change the URL, the event types, the description, or enable/disable',
    request: { params: endpointParams, body: jsonBody(webhookEndpointPatchSchema) },
    responses: { 200: jsonResponse(z.object({ endpoint: webhookEndpointSchema }), 'The endpoint'), ...errorResponses },
  }),
  remove: createRoute({
    method: 'delete', path: '/webhooks/{endpointId}', tags: ['webhooks'], security: bearer, summary: 'Delete an endpoint and its delivery log',
    request: { params: endpointParams },
    responses: { 204: { description: 'Deleted' }, ...errorResponses },
  }),
  rotate: createRoute({
    method: 'post', path: '/webhooks/{endpointId}/rotate-secret', tags: ['webhooks'], security: bearer,
    summary: 'A new signing secret; the old one keeps signing beside it for 24 h',
    request: { params: endpointParams },
    responses: { 200: jsonResponse(webhookEndpointWithSecretSchema, 'The endpoint and its new secret'), ...errorResponses },
  }),
  deliveries: createRoute({
    method: 'get', path: '/webhooks/{endpointId}/deliveries', tags: ['webhooks'], security: bearer, summary: "The endpoint's delivery log, newest first",
    request: { params: endpointParams, query: webhookDeliveryQuerySchema },
    responses: { 200: jsonResponse(webhookDeliveryPageSchema, 'One page; pass nextCursor for the next'), ...errorResponses },
  }),
  delivery: createRoute({
    method: 'get', path: '/webhook-deliveries/{deliveryId}', tags: ['webhooks'], security: bearer, summary: 'One delivery: status, attempts, last answer',
    request: { params: deliveryParams },
    responses: { 200: jsonResponse(z.object({ delivery: webhookDeliverySchema }), 'The delivery'), ...errorResponses },
  }),
  redeliver: createRoute({
    method: 'post', path: '/webhook-deliveries/{deliveryId}/redeliver', tags: ['webhooks'], security: bearer, summary: 'Deliver again (a failed or skipped one too)',
    request: { params: deliveryParams },
    responses: { 202: jsonResponse(z.object({ delivery: webhookDeliverySchema }), 'Due again'), ...errorResponses },
  }),
};

/** Webhook endpoints and their delivery logs: `webhooks:read` to look, `webhooks:write` to change (admins too). */
export function registerWebhookRoutes(app: ApiApp, webhooks: WebhookAdmin): void {
  const reader = (principal: Principal) => authorize(principal, 'webhooks:read');
  const writer = (principal: Principal) => authorize(principal, 'webhooks:write');
  app.openapi(routes.create, async (context) => context.json(await webhooks.createEndpoint(writer(context.get('principal')), context.req.valid('json')), 201));
  app.openapi(routes.list, async (context) => context.json({ endpoints: await webhooks.listEndpoints(reader(context.get('principal'))) }, 200));
  app.openapi(routes.get, async (context) => context.json({ endpoint: await webhooks.getEndpoint(reader(context.get('principal')), context.req.valid('param').endpointId) }, 200));
  app.openapi(routes.update, async (context) =>
    context.json({ endpoint: await webhooks.updateEndpoint(writer(context.get('principal')), context.req.valid('param').endpointId, context.req.valid('json')) }, 200),
  );
  app.openapi(routes.remove, async (context) => {
    await webhooks.deleteEndpoint(writer(context.get('principal')), context.req.valid('param').endpointId);
    return context.body(null, 204);
  });
  app.openapi(routes.rotate, async (context) => context.json(await webhooks.rotateSecret(writer(context.get('principal')), context.req.valid('param').endpointId), 200));
  app.openapi(routes.deliveries, async (context) =>
    context.json(await webhooks.listDeliveries(reader(context.get('principal')), context.req.valid('param').endpointId, context.req.valid('query')), 200),
  );
  app.openapi(routes.delivery, async (context) => context.json({ delivery: await webhooks.getDelivery(reader(context.get('principal')), context.req.valid('param').deliveryId) }, 200));
  app.openapi(routes.redeliver, async (context) =>
    context.json({ delivery: await webhooks.redeliver(writer(context.get('principal')), context.req.valid('param').deliveryId) }, 202),
  );
}

/** The tenant whose webhooks the principal may see or change: a key with the scope, or an admin. */
function authorize(principal: Principal, scope: 'webhooks:read' | 'webhooks:write'): string {
  return requireTenantAdmin(principal, scope, 'only admins and API keys with the webhooks scopes manage webhooks');
}
