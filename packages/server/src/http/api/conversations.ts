import { viewerOf } from '../../auth/authorization.js';
import { createRoute, z } from '@hono/zod-openapi';
import {
  ackSchema,
  broadcastBodySchema,
  broadcastResultSchema,
  conversationResultSchema,
  createConversationBodySchema,
  cursorSchema,
  HISTORY_MAX_LIMIT,
  identifierSchema,
  listQueryLimit,
  membersBodySchema,
  operationResultSchemas,
  postMessageBodySchema,
  updateConversationBodySchema,
  type ErrorBody,
} from '@parley/protocol';
import { randomUUID } from 'node:crypto';
import { toView, type ConversationService } from '../../conversations/service.js';
import { ParleyError, toParleyError } from '../../core/errors.js';
import { bearer, conversationParams, errorResponses, jsonBody, jsonResponse, type ApiApp } from './common.js';

const idempotencyHeaders = z.object({
  'idempotency-key': identifierSchema
    .describe("Makes the post safe to repeat: a repeat with the same key (and sender) returns the original ack with duplicate: true. It is the message's clientMsgId.")
    .optional(),
});

const routes = {
  create: createRoute({
    method: 'post', path: '/conversations', tags: ['conversations'], security: bearer,
    summary: 'Create a conversation (or get the existing one with that id)',
    request: { body: jsonBody(createConversationBodySchema) },
    responses: { 200: jsonResponse(operationResultSchemas['conversation.open'], 'The conversation existed already (created: false)'), 201: jsonResponse(operationResultSchemas['conversation.open'], 'Created'), ...errorResponses },
  }),
  list: createRoute({
    method: 'get', path: '/conversations', tags: ['conversations'], security: bearer,
    summary: "A user's conversations, most recently active first",
    request: { query: z.object({ userId: identifierSchema.describe('Whose list (required with an API key)').optional(), cursor: cursorSchema.optional(), limit: listQueryLimit.default(50) }) },
    responses: { 200: jsonResponse(operationResultSchemas['conversation.list'], 'One page; pass nextCursor for the next'), ...errorResponses },
  }),
  get: createRoute({
    method: 'get', path: '/conversations/{id}', tags: ['conversations'], security: bearer, summary: 'Get a conversation',
    request: { params: conversationParams },
    responses: { 200: jsonResponse(conversationResultSchema, 'The conversation'), ...errorResponses },
  }),
  update: createRoute({
    method: 'patch', path: '/conversations/{id}', tags: ['conversations'], security: bearer,
    summary: 'Update metadata (top-level keys replace, null deletes); recorded as conversation.updated',
    request: { params: conversationParams, body: jsonBody(updateConversationBodySchema) },
    responses: { 200: jsonResponse(operationResultSchemas['conversation.update'], 'Updated'), ...errorResponses },
  }),
  listMembers: createRoute({
    method: 'get', path: '/conversations/{id}/members', tags: ['members'], security: bearer, summary: 'Members, by user id',
    request: { params: conversationParams, query: z.object({ cursor: cursorSchema.optional(), limit: listQueryLimit.default(100) }) },
    responses: { 200: jsonResponse(operationResultSchemas['members.list'], 'One page; pass nextCursor for the next'), ...errorResponses },
  }),
  addMembers: createRoute({
    method: 'post', path: '/conversations/{id}/members', tags: ['members'], security: bearer,
    summary: 'Add members (no cap on a conversation; up to 1,000 per call); recorded as members.added',
    request: { params: conversationParams, body: jsonBody(membersBodySchema) },
    responses: { 200: jsonResponse(operationResultSchemas['members.add'], 'Who was added'), ...errorResponses },
  }),
  removeMembers: createRoute({
    method: 'post', path: '/conversations/{id}/members/remove', tags: ['members'], security: bearer,
    summary: 'Remove members; their live subscriptions end at once on every node; recorded as members.removed',
    request: { params: conversationParams, body: jsonBody(membersBodySchema) },
    responses: { 200: jsonResponse(operationResultSchemas['members.remove'], 'Who was removed'), ...errorResponses },
  }),
  postMessage: createRoute({
    method: 'post', path: '/conversations/{id}/messages', tags: ['messages'], security: bearer,
    summary: 'Post a message as a user, a bot or the system; acknowledged once durable',
    request: { params: conversationParams, headers: idempotencyHeaders, body: jsonBody(postMessageBodySchema) },
    responses: { 201: jsonResponse(ackSchema, 'Stored'), 200: jsonResponse(ackSchema, 'A repeat of an Idempotency-Key: the original ack, duplicate: true'), ...errorResponses },
  }),
  history: createRoute({
    method: 'get', path: '/conversations/{id}/events', tags: ['messages'], security: bearer,
    summary: 'History: the events after `after` (oldest first) or before `before` (the newest), ascending by seq',
    request: {
      params: conversationParams,
      query: z.object({ after: z.coerce.number().int().nonnegative().optional(), before: z.coerce.number().int().positive().optional(), limit: z.coerce.number().int().min(1).max(HISTORY_MAX_LIMIT).default(50) }),
    },
    responses: { 200: jsonResponse(operationResultSchemas.history, 'One page of events'), ...errorResponses },
  }),
  presence: createRoute({
    method: 'get', path: '/conversations/{id}/presence', tags: ['conversations'], security: bearer, summary: 'Who is connected to the conversation now',
    request: { params: conversationParams },
    responses: { 200: jsonResponse(operationResultSchemas.presence, 'Online users'), ...errorResponses },
  }),
  broadcast: createRoute({
    method: 'post', path: '/broadcast', tags: ['messages'], security: bearer,
    summary: 'Post the same message to many conversations; one result per conversation',
    request: { headers: idempotencyHeaders, body: jsonBody(broadcastBodySchema) },
    responses: { 200: jsonResponse(broadcastResultSchema, 'A result per conversation, in the order given'), ...errorResponses },
  }),
};

/** Conversations, members, messages and history over REST: each route calls the conversation use cases. */
export function registerConversationRoutes(app: ApiApp, conversations: ConversationService): void {
  app.openapi(routes.create, async (context) => {
    const body = context.req.valid('json');
    const { id, ...rest } = body;
    const result = await conversations.open(context.get('principal'), { ...rest, ...(id !== undefined ? { conversationId: id } : {}) });
    return context.json(result, result.created ? 201 : 200);
  });
  app.openapi(routes.list, async (context) => {
    const { userId, cursor, limit } = context.req.valid('query');
    return context.json(await conversations.list(context.get('principal'), { limit, ...(cursor ? { cursor } : {}), ...(userId ? { userId } : {}) }), 200);
  });
  app.openapi(routes.get, async (context) => {
    const conversation = await conversations.get(context.get('principal'), context.req.valid('param').id);
    return context.json({ conversation: toView(conversation, viewerOf(context.get('principal'))) }, 200);
  });
  app.openapi(routes.update, async (context) => {
    const { metadata } = context.req.valid('json');
    return context.json(await conversations.update(context.get('principal'), { conversationId: context.req.valid('param').id, metadata }), 200);
  });
  app.openapi(routes.listMembers, async (context) => {
    const { cursor, limit } = context.req.valid('query');
    return context.json(await conversations.listMembers(context.get('principal'), { conversationId: context.req.valid('param').id, limit, ...(cursor ? { cursor } : {}) }), 200);
  });
  app.openapi(routes.addMembers, async (context) => {
    const { userIds } = context.req.valid('json');
    return context.json(await conversations.addMembers(context.get('principal'), { conversationId: context.req.valid('param').id, userIds }), 200);
  });
  app.openapi(routes.removeMembers, async (context) => {
    const { userIds } = context.req.valid('json');
    return context.json(await conversations.removeMembers(context.get('principal'), { conversationId: context.req.valid('param').id, userIds }), 200);
  });
  app.openapi(routes.postMessage, async (context) => {
    const { content, sender, replyTo } = context.req.valid('json');
    const clientMsgId = context.req.valid('header')['idempotency-key'] ?? randomUUID();
    const ack = await conversations.send(context.get('principal'), { conversationId: context.req.valid('param').id, clientMsgId, content, ...(sender ? { as: sender } : {}), ...(replyTo !== undefined ? { replyTo } : {}) });
    return context.json(ack, ack.duplicate ? 200 : 201);
  });
  app.openapi(routes.history, async (context) => {
    const query = context.req.valid('query');
    return context.json(await conversations.history(context.get('principal'), { conversationId: context.req.valid('param').id, ...query }), 200);
  });
  app.openapi(routes.presence, async (context) => {
    return context.json(await conversations.presence(context.get('principal'), context.req.valid('param').id), 200);
  });
  app.openapi(routes.broadcast, async (context) => {
    const { conversationIds, content, sender } = context.req.valid('json');
    const clientMsgId = context.req.valid('header')['idempotency-key'] ?? randomUUID();
    const principal = context.get('principal');
    const unique = [...new Set(conversationIds)];
    const results = await Promise.all(
      unique.map(async (conversationId) => {
        try {
          const ack = await conversations.send(principal, { conversationId, clientMsgId, content, ...(sender ? { as: sender } : {}) });
          return { conversationId, ok: true as const, ack };
        } catch (error) {
          return { conversationId, ok: false as const, error: itemError(error) };
        }
      }),
    );
    return context.json({ results }, 200);
  });
}

/** One item's failure: a client error as it is, a server fault without its internals. */
function itemError(error: unknown): ErrorBody {
  const failure = error instanceof ParleyError ? error : toParleyError(error);
  return failure.toBody();
}
