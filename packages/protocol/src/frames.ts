import { z } from 'zod';
import { jsonValueSchema } from './json.js';
import { errorBodySchema } from './errors.js';
import { contentSchema, eventSchema, signalSchema } from './events.js';
import { identifierSchema, roleSchema } from './ids.js';

export const PROTOCOL_VERSION = 'v1';
export const HISTORY_MAX_LIMIT = 200;
/** Members added or removed in one request at most; a conversation itself has no member cap. */
export const MEMBERS_PER_REQUEST = 1000;
/** Largest page of `members.list` and `conversation.list`. */
export const LIST_MAX_LIMIT = 200;

/** Metadata changes: top-level keys replace the stored ones, `null` deletes a key (JSON merge patch, one level). */
export const metadataPatchSchema = z.record(z.string().max(128), jsonValueSchema).refine((patch) => Object.keys(patch).length <= 100, 'at most 100 keys');
/** An opaque keyset cursor of a listing, from the previous page's `nextCursor`. */
export const cursorSchema = z.string().min(1).max(512);

/** A request id, chosen by the client and echoed in the reply. */
export const requestIdSchema = z.union([z.string().min(1).max(64), z.number().int().nonnegative()]);
export type RequestId = z.infer<typeof requestIdSchema>;

const conversationArgs = z.object({ conversationId: identifierSchema });

/** Arguments of each operation, keyed by the operation name. */
export const operationArgsSchemas = {
  connect: z.object({
    token: z.string().min(1).max(8192),
    client: z.object({ name: z.string().max(64), version: z.string().max(32) }).optional(),
  }),
  'token.refresh': z.object({ token: z.string().min(1).max(8192) }),
  'conversation.open': z.object({
    conversationId: identifierSchema.optional(),
    /** An assistant profile: the conversation then gets an AI answer to every user message. */
    assistant: identifierSchema.optional(),
    members: z.array(identifierSchema).max(MEMBERS_PER_REQUEST).default([]),
    metadata: z.record(z.string(), jsonValueSchema).default({}),
  }),
  'conversation.get': conversationArgs,
  /** The caller's conversations, most recently active first. */
  'conversation.list': z.object({ cursor: cursorSchema.optional(), limit: z.number().int().min(1).max(LIST_MAX_LIMIT).default(50) }),
  'conversation.update': conversationArgs.extend({ metadata: metadataPatchSchema }),
  'members.add': conversationArgs.extend({ userIds: z.array(identifierSchema).min(1).max(MEMBERS_PER_REQUEST) }),
  'members.remove': conversationArgs.extend({ userIds: z.array(identifierSchema).min(1).max(MEMBERS_PER_REQUEST) }),
  'members.list': conversationArgs.extend({ cursor: cursorSchema.optional(), limit: z.number().int().min(1).max(LIST_MAX_LIMIT).default(100) }),
  'message.send': conversationArgs.extend({
    clientMsgId: identifierSchema,
    content: contentSchema,
    replyTo: z.number().int().positive().optional(),
  }),
  history: conversationArgs.extend({
    before: z.number().int().positive().optional(),
    after: z.number().int().nonnegative().optional(),
    limit: z.number().int().min(1).max(HISTORY_MAX_LIMIT).default(50),
  }),
  subscribe: conversationArgs.extend({ since: z.number().int().nonnegative().optional() }),
  unsubscribe: conversationArgs,
  typing: conversationArgs.extend({ active: z.boolean() }),
  read: conversationArgs.extend({ seq: z.number().int().positive() }),
  presence: conversationArgs,
  /** Stops the running generation (or the given one) of a conversation. */
  'ai.stop': conversationArgs.extend({ generationId: z.string().min(1).max(64).optional() }),
  /** The exact context a generation sent to its model (agents and admins only; for debugging). */
  'ai.context': conversationArgs.extend({ generationId: z.string().min(1).max(64) }),
  /** Approves or denies a tool call that waits for approval (`ai.approval_requested`). The first decision wins. */
  'ai.approve': conversationArgs.extend({ approvalId: z.string().min(1).max(128), approved: z.boolean() }),
  ping: z.object({}),
} as const;

export type OperationName = keyof typeof operationArgsSchemas;
export const OPERATION_NAMES = Object.keys(operationArgsSchemas) as OperationName[];
export type OperationArgs<Op extends OperationName> = z.output<(typeof operationArgsSchemas)[Op]>;
/** Arguments as a client writes them (defaults may be omitted). */
export type OperationInput<Op extends OperationName> = z.input<(typeof operationArgsSchemas)[Op]>;

/** The outer shape of every client frame; `args` are validated per operation. */
export const requestFrameSchema = z.object({
  id: requestIdSchema,
  op: z.string().min(1).max(64),
  args: z.unknown().optional(),
});
export type RequestFrame = z.infer<typeof requestFrameSchema>;

export const principalViewSchema = z.object({ tenant: identifierSchema, userId: identifierSchema, roles: z.array(roleSchema) });
export type PrincipalView = z.infer<typeof principalViewSchema>;

export const conversationViewSchema = z.object({
  id: identifierSchema,
  tenant: identifierSchema,
  /** Every member, in conversations of at most the large-room threshold (default 100); absent in larger ones (use `members.list`). */
  members: z.array(identifierSchema).optional(),
  memberCount: z.number().int().nonnegative(),
  metadata: z.record(z.string(), z.unknown()),
  createdAt: z.number().int(),
  createdBy: z.string(),
  lastSeq: z.number().int().nonnegative(),
  /** The assistant profile answering in this conversation, or null. */
  assistant: z.string().nullable(),
});
export type ConversationView = z.infer<typeof conversationViewSchema>;

/** A conversation in the caller's list: its view plus where the caller stands in it. */
export const conversationSummarySchema = conversationViewSchema.extend({
  /** When its last event was committed (ms since the epoch). */
  lastEventAt: z.number().int(),
  /** The caller's read marker, 0 when the caller is not a member. */
  lastReadSeq: z.number().int().nonnegative(),
  /** Events after the caller's read marker (all types, a conservative count). */
  unread: z.number().int().nonnegative(),
});
export type ConversationSummary = z.infer<typeof conversationSummarySchema>;

export const memberViewSchema = z.object({ userId: identifierSchema, joinedAt: z.number().int(), lastReadSeq: z.number().int().nonnegative() });
export type MemberView = z.infer<typeof memberViewSchema>;

export const ackSchema = z.object({
  eventId: z.string(),
  seq: z.number().int().positive(),
  ts: z.number().int(),
  duplicate: z.boolean(),
});
export type Ack = z.infer<typeof ackSchema>;

/** Results of each operation, keyed by the operation name. */
export const operationResultSchemas = {
  connect: z.object({
    sessionId: z.string(),
    principal: principalViewSchema,
    expiresAt: z.number().int(),
    protocol: z.literal(PROTOCOL_VERSION),
    serverVersion: z.string(),
    pingIntervalMs: z.number().int(),
    limits: z.object({ maxFrameBytes: z.number().int(), ratePerSecond: z.number(), burst: z.number() }),
  }),
  'token.refresh': z.object({ expiresAt: z.number().int() }),
  'conversation.open': z.object({ conversation: conversationViewSchema, created: z.boolean() }),
  'conversation.get': z.object({ conversation: conversationViewSchema }),
  'conversation.list': z.object({ conversations: z.array(conversationSummarySchema), nextCursor: cursorSchema.nullable() }),
  'conversation.update': z.object({ conversation: conversationViewSchema, seq: z.number().int().positive().nullable() }),
  /** `added`: the users who were not members before; `seq` of the `members.added` event, null when nothing changed. */
  'members.add': z.object({ added: z.array(identifierSchema), seq: z.number().int().positive().nullable() }),
  'members.remove': z.object({ removed: z.array(identifierSchema), seq: z.number().int().positive().nullable() }),
  'members.list': z.object({ members: z.array(memberViewSchema), nextCursor: cursorSchema.nullable() }),
  'message.send': ackSchema,
  history: z.object({ events: z.array(eventSchema), hasMore: z.boolean() }),
  subscribe: z.object({ conversationId: identifierSchema, headSeq: z.number().int().nonnegative() }),
  unsubscribe: z.object({}),
  typing: z.object({}),
  read: z.object({ seq: z.number().int().nonnegative(), changed: z.boolean() }),
  presence: z.object({ online: z.array(z.object({ userId: z.string(), connections: z.number().int() })) }),
  'ai.stop': z.object({ stopped: z.array(z.string()) }),
  'ai.approve': z.object({ approvalId: z.string(), approved: z.boolean(), duplicate: z.boolean() }),
  'ai.context': z.object({
    generationId: z.string(),
    system: z.string(),
    messages: z.array(z.object({ role: z.string(), content: z.unknown() })),
    estimatedTokens: z.number(),
    historyEvents: z.number(),
    providers: z.array(z.object({ name: z.string(), ok: z.boolean(), ms: z.number(), text: z.string() })),
  }),
  ping: z.object({ ts: z.number().int() }),
} as const satisfies Record<OperationName, z.ZodType>;

export type OperationResult<Op extends OperationName> = z.infer<(typeof operationResultSchemas)[Op]>;

export const replyFrameSchema = z.union([
  z.object({ id: requestIdSchema, result: z.unknown() }),
  z.object({ id: requestIdSchema.nullable(), error: errorBodySchema }),
]);
export type ReplyFrame = z.infer<typeof replyFrameSchema>;

/** Server pushes: durable events, ephemeral signals, and a notice sent before the server closes the connection. */
export const pushFrameSchema = z.discriminatedUnion('push', [
  z.object({ push: z.literal('event'), event: eventSchema }),
  z.object({ push: z.literal('signal'), signal: signalSchema }),
  /** A notice for the user from the tenant's backend (`notify`), to every connection of the user. */
  z.object({ push: z.literal('notification'), notification: z.object({ id: z.string(), ts: z.number().int(), data: z.record(z.string(), z.unknown()) }) }),
  /** The server ended a subscription (the user lost access to the conversation); the client must not resubscribe without it. */
  z.object({ push: z.literal('unsubscribed'), conversationId: identifierSchema, reason: z.string(), code: z.string() }),
  z.object({
    push: z.literal('disconnect'),
    code: z.number().int(),
    reason: z.string(),
    reconnect: z.boolean(),
  }),
]);
export type PushFrame = z.infer<typeof pushFrameSchema>;

export type ServerFrame = ReplyFrame | PushFrame;
