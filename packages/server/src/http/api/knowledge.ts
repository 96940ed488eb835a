import { createRoute, z } from '@hono/zod-openapi';
import { documentInputSchema, documentPatchSchema, documentViewSchema, identifierSchema, knowledgeSearchSchema, listQueryLimit, passageSchema } from '@parley/protocol';
import { requireTenantAdmin } from '../../auth/authorization.js';
import type { KnowledgeBase } from '../../core/ports.js';
import type { Principal } from '../../core/types.js';
import { bearer, errorResponses, jsonBody, jsonResponse, type ApiApp } from './common.js';

const documentParams = z.object({ id: identifierSchema.describe('The document id (doc_...)') });
const documentResult = z.object({ document: documentViewSchema });

const routes = {
  create: createRoute({
    method: 'post', path: '/knowledge/documents', tags: ['knowledge'], security: bearer,
    summary: 'Add a document (Markdown, HTML or text) to the knowledge base; it is indexed in the background (status pending, then indexed or failed)',
    request: { body: jsonBody(documentInputSchema) },
    responses: { 201: jsonResponse(documentResult, 'The document, status pending'), ...errorResponses },
  }),
  list: createRoute({
    method: 'get', path: '/knowledge/documents', tags: ['knowledge'], security: bearer, summary: "The knowledge base's documents, newest first, without their content",
    request: { query: z.object({ source: z.string().min(1).max(200).optional(), cursor: identifierSchema.optional().describe('nextCursor of the previous page'), limit: listQueryLimit.default(50) }) },
    responses: { 200: jsonResponse(z.object({ documents: z.array(documentViewSchema), nextCursor: z.string().nullable() }), 'A page of documents'), ...errorResponses },
  }),
  get: createRoute({
    method: 'get', path: '/knowledge/documents/{id}', tags: ['knowledge'], security: bearer, summary: 'One document with its content and indexing status',
    request: { params: documentParams },
    responses: { 200: jsonResponse(documentResult, 'The document'), ...errorResponses },
  }),
  update: createRoute({
    method: 'patch', path: '/knowledge/documents/{id}', tags: ['knowledge'], security: bearer,
    summary: 'Change a document; a new content or format is indexed again (the old passages are searched until it is)',
    request: { params: documentParams, body: jsonBody(documentPatchSchema) },
    responses: { 200: jsonResponse(documentResult, 'The document'), ...errorResponses },
  }),
  remove: createRoute({
    method: 'delete', path: '/knowledge/documents/{id}', tags: ['knowledge'], security: bearer, summary: 'Delete a document and every passage of it',
    request: { params: documentParams },
    responses: { 204: { description: 'Deleted' }, ...errorResponses },
  }),
  search: createRoute({
    method: 'post', path: '/knowledge/search', tags: ['knowledge'], security: bearer, summary: 'The passages that best match a query, best first',
    request: { body: jsonBody(knowledgeSearchSchema) },
    responses: { 200: jsonResponse(z.object({ passages: z.array(passageSchema) }), 'The passages found'), ...errorResponses },
  }),
};

/** The knowledge base: `knowledge:read` to list, read and search, `knowledge:write` to change (admins too). */
export function registerKnowledgeRoutes(app: ApiApp, knowledge: KnowledgeBase): void {
  app.openapi(routes.create, async (context) => context.json({ document: await knowledge.addDocument(writer(context.get('principal')), context.req.valid('json')) }, 201));
  app.openapi(routes.list, async (context) => {
    const { source, cursor, limit } = context.req.valid('query');
    return context.json(await knowledge.listDocuments(reader(context.get('principal')), { limit, source, after: cursor }), 200);
  });
  app.openapi(routes.get, async (context) =>
    context.json({ document: await knowledge.getDocument(reader(context.get('principal')), context.req.valid('param').id, { content: true }) }, 200),
  );
  app.openapi(routes.update, async (context) =>
    context.json({ document: await knowledge.updateDocument(writer(context.get('principal')), context.req.valid('param').id, context.req.valid('json')) }, 200),
  );
  app.openapi(routes.remove, async (context) => {
    await knowledge.deleteDocument(writer(context.get('principal')), context.req.valid('param').id);
    return context.body(null, 204);
  });
  app.openapi(routes.search, async (context) => context.json({ passages: await knowledge.search(reader(context.get('principal')), context.req.valid('json')) }, 200));
}

function reader(principal: Principal): string {
  return requireTenantAdmin(principal, 'knowledge:read', 'only admins and API keys with the knowledge scopes read the knowledge base');
}

function writer(principal: Principal): string {
  return requireTenantAdmin(principal, 'knowledge:write', 'only admins and API keys with knowledge:write change the knowledge base');
}
