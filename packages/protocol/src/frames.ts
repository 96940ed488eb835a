import { z } from 'zod';
import { jsonValueSchema } from './json.js';
import { errorBodySchema } from './errors.js';
import { contentSchema, eventSchema, signalSchema } from './events.js';
import { identifierSchema, roleSchema } from './ids.js';
import { passageSchema } from './knowledge.js';
import { agentSchema, agentStatusSchema, cannedReplySchema, inboxItemSchema, inboxViewSchema, staffEventSchema, supportStateSchema, teamIdSchema } from './support.js';

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
  /**
   * Live events after `since` (default: from now). Staff may also give `staffSince`: staff-only events after
   * that staff seq then arrive too, as `staffEvent` pushes, in order and exactly once.
   */
  subscribe: conversationArgs.extend({ since: z.number().int().nonnegative().optional(), staffSince: z.number().int().nonnegative().optional() }),
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
  /** Asks for a person (the customer's button, an agent, or the backend). */
  'support.handoff': conversationArgs.extend({ detail: z.string().max(500).optional() }),
  /** An agent takes a queued conversation, or accepts one routing assigned to them. */
  'support.claim': conversationArgs,
  /** Assigns to an agent; with `expectedAgentId`, only if that is still the assignee (else `conflict`). */
  'support.assign': conversationArgs.extend({ agentId: identifierSchema, expectedAgentId: identifierSchema.nullable().optional() }),
  /** Moves the conversation to another agent or to a team's queue. */
  'support.transfer': conversationArgs
    .extend({ toAgentId: identifierSchema.optional(), toTeam: teamIdSchema.optional(), expectedAgentId: identifierSchema.nullable().optional(), reason: z.string().max(500).optional() })
    .refine((args) => (args.toAgentId === undefined) !== (args.toTeam === undefined), 'give exactly one of toAgentId and toTeam'),
  /** A private note: staff see it, the customer never does. */
  'support.note': conversationArgs.extend({ clientMsgId: identifierSchema, text: z.string().min(1).max(32_768) }),
  'support.resolve': conversationArgs,
  'support.reopen': conversationArgs,
  /** Hands the conversation back to the assistant. */
  'support.handBack': conversationArgs,
  'support.close': conversationArgs,
  /** The customer rates the latest resolution: 1 to 5, with an optional comment. */
  'support.rate': conversationArgs.extend({ rating: z.number().int().min(1).max(5), comment: z.string().max(2000).optional() }),
  /** Staff-only events after `after` (a staff seq), ascending. */
  'support.staffHistory': conversationArgs.extend({ after: z.number().int().nonnegative().default(0), limit: z.number().int().min(1).max(HISTORY_MAX_LIMIT).default(100) }),
  /** An agent's inbox: the queue, their own conversations, their teams', or all (admins). */
  'support.inbox': z.object({ view: inboxViewSchema, team: teamIdSchema.optional(), cursor: cursorSchema.optional(), limit: z.number().int().min(1).max(LIST_MAX_LIMIT).default(50) }),
  /** Canned replies an agent may use (the tenant's and their teams'), filled in for a conversation if given. */
  'support.canned': z.object({ conversationId: identifierSchema.optional() }),
  /** Sets the calling agent's status. */
  'agent.status': z.object({ status: agentStatusSchema }),
  /** Tells the other agents that the caller has the conversation open (collision detection). */
  'agent.viewing': conversationArgs.extend({ active: z.boolean() }),
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
  /** Where a support conversation (one with an assistant) stands; absent in people-only conversations. */
  support: supportStateSchema.optional(),
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
    /** Knowledge-base passages retrieved for the answer, numbered as the model saw them; absent without a knowledge setting. */
    knowledge: z.array(passageSchema.extend({ n: z.number().int().positive() })).optional(),
  }),
  'support.handoff': z.object({ seq: z.number().int().positive(), support: supportStateSchema }),
  'support.claim': z.object({ seq: z.number().int().positive().nullable(), support: supportStateSchema }),
  'support.assign': z.object({ seq: z.number().int().positive(), support: supportStateSchema }),
  'support.transfer': z.object({ seq: z.number().int().positive(), support: supportStateSchema }),
  'support.note': z.object({ eventId: z.string(), staffSeq: z.number().int().positive(), duplicate: z.boolean() }),
  'support.resolve': z.object({ seq: z.number().int().positive(), support: supportStateSchema }),
  'support.reopen': z.object({ seq: z.number().int().positive(), support: supportStateSchema }),
  'support.handBack': z.object({ seq: z.number().int().positive(), support: supportStateSchema }),
  'support.close': z.object({ seq: z.number().int().positive(), support: supportStateSchema }),
  'support.rate': z.object({ seq: z.number().int().positive() }),
  'support.staffHistory': z.object({ events: z.array(staffEventSchema), hasMore: z.boolean() }),
  'support.inbox': z.object({
    items: z.array(inboxItemSchema),
    nextCursor: cursorSchema.nullable(),
    /** Conversations in each view now, for the console's badges. */
    counts: z.object({ queue: z.number().int(), mine: z.number().int(), team: z.number().int(), all: z.number().int() }),
  }),
  'support.canned': z.object({ replies: z.array(cannedReplySchema.extend({ rendered: z.string() })) }),
  'agent.status': z.object({ agent: agentSchema }),
  'agent.viewing': z.object({}),
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
  /** A staff-only event (subscriptions with `staffSince`, staff only): ordered and exactly once by `staffSeq`. */
  z.object({ push: z.literal('staffEvent'), event: staffEventSchema }),
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
