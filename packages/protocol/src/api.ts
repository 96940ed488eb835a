import { z } from 'zod';
import { jsonValueSchema } from './json.js';
import { errorBodySchema } from './errors.js';
import { contentSchema } from './events.js';
import { ackSchema, conversationViewSchema, LIST_MAX_LIMIT, MEMBERS_PER_REQUEST, metadataPatchSchema } from './frames.js';
import { identifierSchema } from './ids.js';
import { apiScopeSchema } from './scopes.js';

/**
 * Bodies and results of the server API (REST, `/v1/api`). The server validates requests with these schemas,
 * its OpenAPI document is generated from them, and the server SDK's types come from them.
 */

/** Who a backend posts as: a user of the tenant, a bot of its own, or the system. */
export const senderSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('user'), id: identifierSchema }),
  z.object({ kind: z.literal('bot'), id: identifierSchema }),
  z.object({ kind: z.literal('system') }),
]);
export type Sender = z.infer<typeof senderSchema>;

export const createConversationBodySchema = z.object({
  id: identifierSchema.optional(),
  members: z.array(identifierSchema).max(MEMBERS_PER_REQUEST).default([]),
  metadata: z.record(z.string(), jsonValueSchema).default({}),
  /** An assistant profile: the conversation then gets an AI answer to every user message. */
  assistant: identifierSchema.optional(),
});

export const updateConversationBodySchema = z.object({ metadata: metadataPatchSchema });

export const membersBodySchema = z.object({ userIds: z.array(identifierSchema).min(1).max(MEMBERS_PER_REQUEST) });

export const postMessageBodySchema = z.object({
  content: contentSchema,
  /** Required with an API key; a user's token always posts as that user. */
  sender: senderSchema.optional(),
  replyTo: z.number().int().positive().optional(),
});

/** The same message to many conversations; `Idempotency-Key` makes the whole call safe to repeat. */
export const broadcastBodySchema = z.object({
  conversationIds: z.array(identifierSchema).min(1).max(MEMBERS_PER_REQUEST),
  content: contentSchema,
  sender: senderSchema.optional(),
});

export const broadcastResultSchema = z.object({
  results: z.array(
    z.union([
      z.object({ conversationId: identifierSchema, ok: z.literal(true), ack: ackSchema }),
      z.object({ conversationId: identifierSchema, ok: z.literal(false), error: errorBodySchema }),
    ]),
  ),
});

export const notifyBodySchema = z.object({ data: z.record(z.string(), jsonValueSchema) });
export const disconnectBodySchema = z.object({ reconnect: z.boolean().default(true) });

/** Tokens a backend mints for its users, so that it need not hold the signing secret. */
export const mintTokenBodySchema = z.object({
  userId: identifierSchema,
  roles: z.array(z.enum(['user', 'agent'])).min(1).default(['user']),
  /** Capped at a day. */
  ttlSeconds: z.number().int().min(60).max(86_400).default(3600),
});
export const mintTokenResultSchema = z.object({ token: z.string(), expiresAt: z.number().int() });

export const createKeyBodySchema = z.object({ name: z.string().min(1).max(100), scopes: z.array(apiScopeSchema).min(1) });
export const apiKeyViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(apiScopeSchema),
  createdAt: z.number().int(),
  createdBy: z.string(),
  revokedAt: z.number().int().nullable(),
});
export const createKeyResultSchema = z.object({ key: z.string(), apiKey: apiKeyViewSchema });

export const conversationResultSchema = z.object({ conversation: conversationViewSchema });

/** Request bodies as a client writes them (defaults may be left out), and results: the server SDK's types. */
export type CreateConversationBody = z.input<typeof createConversationBodySchema>;
export type UpdateConversationBody = z.input<typeof updateConversationBodySchema>;
export type PostMessageBody = z.input<typeof postMessageBodySchema>;
export type BroadcastBody = z.input<typeof broadcastBodySchema>;
export type BroadcastResult = z.infer<typeof broadcastResultSchema>;
export type MintTokenBody = z.input<typeof mintTokenBodySchema>;
export type MintTokenResult = z.infer<typeof mintTokenResultSchema>;
export type CreateKeyBody = z.input<typeof createKeyBodySchema>;
export type CreateKeyResult = z.infer<typeof createKeyResultSchema>;
export type ApiKeyView = z.infer<typeof apiKeyViewSchema>;

export const apiErrorSchema = z.object({ error: errorBodySchema });
export const listQueryLimit = z.coerce.number().int().min(1).max(LIST_MAX_LIMIT);
