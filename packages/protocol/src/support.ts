import { z } from 'zod';
import { actorSchema, causationSchema, MAX_TEXT_LENGTH } from './events.js';
import { identifierSchema } from './ids.js';

/**
 * The support desk's vocabulary: conversation modes, handoff reasons, agents, teams, staff-only events.
 * A support conversation is one with an assistant profile: it starts in `assistant` mode. People-only
 * conversations have no mode (null) and no support operation applies to them.
 */

/**
 * Who answers a support conversation: the assistant; nobody yet (waiting for an agent); an agent; nobody
 * (resolved: the customer's next message reopens it to the assistant); nobody ever again (closed).
 */
export const conversationModeSchema = z.enum(['assistant', 'queued', 'agent', 'resolved', 'closed']);
export type ConversationMode = z.infer<typeof conversationModeSchema>;

/** Why a conversation was handed to people. */
export const handoffReasonSchema = z.enum([
  'user', // the customer asked (the operation, or the page's button)
  'tool', // the model called `handoff_to_human`
  'failures', // several answers in a row failed or fell back
  'sentiment', // the customer's message read as very negative
  'rule', // a content rule of the assistant profile matched
  'agent', // an agent took the conversation over
  'api', // the tenant's backend asked
]);
export type HandoffReason = z.infer<typeof handoffReasonSchema>;

/** Where a transition was asked for: a client connection, the server API, the assistant, or the server itself. */
export const transitionOriginSchema = z.enum(['client', 'api', 'assistant', 'system']);
export type TransitionOrigin = z.infer<typeof transitionOriginSchema>;

export const agentStatusSchema = z.enum(['online', 'away', 'offline']);
export type AgentStatus = z.infer<typeof agentStatusSchema>;

/** How an assignment came about. */
export const assignmentKindSchema = z.enum(['routing', 'claim', 'assign']);

export const sentimentLabelSchema = z.enum(['negative', 'neutral', 'positive']);

/** A team (inbox) id; `null` in events means the tenant's default inbox, which every agent serves. */
export const teamIdSchema = identifierSchema;

const nameSchema = z.string().min(1).max(200);
const noteTextSchema = z.string().min(1).max(MAX_TEXT_LENGTH);

/** Data of the support desk's durable events, for the catalogue. Members see these; staff-only ones follow. */
export const SUPPORT_EVENT_SCHEMAS = {
  /** Someone asked for a person; `reason` says why, `detail` what the trigger saw (a rule's name, the failures counted). */
  'handoff.requested': z.object({ reason: handoffReasonSchema, origin: transitionOriginSchema, from: conversationModeSchema, detail: z.string().max(500).optional() }),
  /** The conversation waits in `team`'s queue (null: the default inbox). */
  'conversation.queued': z.object({ team: teamIdSchema.nullable(), priority: z.number().int(), reason: handoffReasonSchema.or(z.enum(['transfer', 'not_accepted', 'agent_offline', 'recovered'])) }),
  /** An agent owns the conversation; `agentName` is what the customer's page shows ("Agent Dana joined"). */
  'conversation.assigned': z.object({
    agentId: identifierSchema,
    agentName: nameSchema.nullable(),
    team: teamIdSchema.nullable(),
    kind: assignmentKindSchema,
    /** The agent who had it before (a transfer or a re-assignment). */
    previousAgentId: identifierSchema.optional(),
  }),
  /** Moved to another agent (then `conversation.assigned` follows) or back to a team's queue (then `conversation.queued`). */
  'conversation.transferred': z.object({
    fromAgentId: identifierSchema.nullable(),
    toAgentId: identifierSchema.nullable(),
    toTeam: teamIdSchema.nullable(),
    reason: z.string().max(500).optional(),
  }),
  /** An agent (or the backend) resolved it; `resolution` counts this conversation's resolutions (1, 2, ...), one rating each. */
  'conversation.resolved': z.object({ resolution: z.number().int().positive(), agentId: identifierSchema.nullable() }),
  /** Back in `mode` after being resolved: the customer wrote again (to the assistant), or an agent reopened it (to the agent). */
  'conversation.reopened': z.object({ mode: z.enum(['assistant', 'agent']), by: z.enum(['customer', 'agent', 'api']) }),
  /** The people handed the conversation back to the assistant, which answers again from the next message. */
  'conversation.handed_back': z.object({ agentId: identifierSchema.nullable() }),
  /** Closed for good: nothing more can be sent or changed. */
  'conversation.closed': z.object({}),
  /** The customer's rating of resolution `resolution`. */
  'csat.submitted': z.object({ resolution: z.number().int().positive(), rating: z.number().int().min(1).max(5), comment: z.string().max(2000).optional(), agentId: identifierSchema.nullable() }),
} as const;

/** Data of the staff-only events: never delivered to a member of the conversation in any way. */
export const STAFF_EVENT_SCHEMAS = {
  /** A private note between agents. */
  'note.created': z.object({ text: noteTextSchema }),
  /** What the assistant wrote for the agent at a handoff. */
  'support.summary': z.object({ text: z.string().max(MAX_TEXT_LENGTH), reason: handoffReasonSchema, model: z.string() }),
  /** How a customer's message (at seq `messageSeq`) reads; `score` is the analyzer's comparative score (below 0 is negative). */
  'support.sentiment': z.object({ messageSeq: z.number().int().positive(), score: z.number(), label: sentimentLabelSchema, analyzer: z.string() }),
  /** What routing decided and why (no agent: `agentId` null, the conversation waits). */
  'routing.decided': z.object({ agentId: identifierSchema.nullable(), team: teamIdSchema.nullable(), reason: z.string().max(500), waitingMs: z.number().int().nonnegative() }),
} as const;

/**
 * A staff-only event. It takes `staffSeq` in the conversation's second sequence (1, 2, ... without gaps) and
 * names `afterSeq`, the members' seq it follows; members' seqs never count it.
 */
export const staffEventSchema = z.object({
  id: z.string(),
  tenant: identifierSchema,
  conversation: identifierSchema,
  staffSeq: z.number().int().positive(),
  afterSeq: z.number().int().nonnegative(),
  type: z.string(),
  ts: z.number().int(),
  actor: actorSchema,
  data: z.record(z.string(), z.unknown()),
  causation: causationSchema.optional(),
});
export type StaffEvent = z.infer<typeof staffEventSchema>;

/** Where a support conversation stands; in a conversation's view (members see mode and agent, staff all). */
export const supportStateSchema = z.object({
  mode: conversationModeSchema,
  team: teamIdSchema.nullable(),
  assigneeId: identifierSchema.nullable(),
  assigneeName: nameSchema.nullable(),
  /** When it entered the queue (ms since the epoch); null unless queued. */
  queuedAt: z.number().int().nullable(),
  priority: z.number().int(),
  /** How many times it was resolved; the rating prompt rates the latest. */
  resolution: z.number().int().nonnegative(),
  /** Whether the customer rated the latest resolution. */
  rated: z.boolean(),
  /** The last staff-only seq (staff only). */
  lastStaffSeq: z.number().int().nonnegative().optional(),
});
export type SupportState = z.infer<typeof supportStateSchema>;

/** Weekly opening hours of a team, in its time zone: outside them the queue says so and the assistant keeps answering. */
export const businessHoursSchema = z.object({
  timeZone: z.string().min(1).max(64),
  /** Per weekday (0 = Sunday), open intervals as "HH:MM" pairs; a day without an entry is closed. */
  days: z.partialRecord(z.enum(['0', '1', '2', '3', '4', '5', '6']), z.array(z.tuple([z.string().regex(/^\d{2}:\d{2}$/), z.string().regex(/^\d{2}:\d{2}$/)])).max(4)),
});
export type BusinessHours = z.infer<typeof businessHoursSchema>;

export const teamSchema = z.object({
  id: teamIdSchema,
  name: nameSchema,
  /** Skills a conversation of this team needs; agents need all of them. */
  skills: z.array(identifierSchema).max(32).default([]),
  businessHours: businessHoursSchema.nullable().default(null),
});
export type Team = z.infer<typeof teamSchema>;

export const agentSchema = z.object({
  userId: identifierSchema,
  name: nameSchema.nullable(),
  picture: z.string().max(2000).nullable(),
  teams: z.array(teamIdSchema).max(64),
  skills: z.array(identifierSchema).max(64),
  /** Conversations the agent can own at once. */
  capacity: z.number().int().min(0).max(1000),
  status: agentStatusSchema,
  /** Conversations the agent owns now. */
  open: z.number().int().nonnegative(),
  /** Whether the agent is connected on some node (within the presence grace). */
  connected: z.boolean(),
});
export type Agent = z.infer<typeof agentSchema>;

export const agentBodySchema = z.object({
  name: nameSchema.nullable().optional(),
  teams: z.array(teamIdSchema).max(64).default([]),
  skills: z.array(identifierSchema).max(64).default([]),
  capacity: z.number().int().min(0).max(1000).default(5),
});

export const cannedReplySchema = z.object({
  id: identifierSchema,
  /** The team it belongs to, or null for the whole tenant. */
  team: teamIdSchema.nullable(),
  /** What the agent types to find it ("/refund"). */
  shortcut: z.string().min(1).max(64),
  /** The text; `{{customer.name}}`, `{{agent.name}}` and `{{conversation.<metadata key>}}` are filled in. */
  text: z.string().min(1).max(MAX_TEXT_LENGTH),
});
export type CannedReply = z.infer<typeof cannedReplySchema>;

/** A conversation as an agent's inbox lists it. */
export const inboxItemSchema = z.object({
  conversationId: identifierSchema,
  support: supportStateSchema,
  /** The customer: the conversation's creator. */
  customerId: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  lastSeq: z.number().int().nonnegative(),
  lastEventAt: z.number().int(),
  /** The agent's read marker here (0 if never read). */
  lastReadSeq: z.number().int().nonnegative(),
  /** The latest sentiment of the customer, if measured. */
  sentiment: sentimentLabelSchema.nullable(),
});
export type InboxItem = z.infer<typeof inboxItemSchema>;

export const inboxViewSchema = z.enum(['queue', 'mine', 'team', 'all']);
export type InboxView = z.infer<typeof inboxViewSchema>;

/** Service figures over a period (the metrics API). Times are milliseconds; null where nothing was measured. */
export const supportReportSchema = z.object({
  from: z.number().int(),
  to: z.number().int(),
  queue: z.object({ depth: z.number().int().nonnegative(), oldestWaitMs: z.number().int().nullable(), averageWaitMs: z.number().nullable() }),
  firstResponseMs: z.object({ average: z.number().nullable(), p50: z.number().nullable(), p90: z.number().nullable(), count: z.number().int() }),
  resolutionMs: z.object({ average: z.number().nullable(), p50: z.number().nullable(), p90: z.number().nullable(), count: z.number().int() }),
  csat: z.object({
    average: z.number().nullable(),
    count: z.number().int(),
    byAgent: z.array(z.object({ agentId: z.string(), average: z.number(), count: z.number().int() })),
    byTeam: z.array(z.object({ team: z.string().nullable(), average: z.number(), count: z.number().int() })),
  }),
  handoffs: z.object({
    conversations: z.number().int(),
    handedOff: z.number().int(),
    rate: z.number().nullable(),
    byReason: z.record(z.string(), z.number().int()),
  }),
  /** Assistant conversations active in the period that never reached a person. */
  botResolvedRate: z.number().nullable(),
});
export type SupportReport = z.infer<typeof supportReportSchema>;
