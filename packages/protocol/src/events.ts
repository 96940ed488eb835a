import { z } from 'zod';
import { jsonValueSchema } from './json.js';
import { identifierSchema } from './ids.js';
import { partsContentSchema } from './parts.js';

export const MAX_TEXT_LENGTH = 32_768;

/**
 * Message content: plain text, typed parts (rich messages: text, files, images, quick replies, forms and
 * the answers to them; see parts.ts), or structured content with an application-defined type.
 */
export const textContentSchema = z.object({ type: z.literal('text'), text: z.string().min(1).max(MAX_TEXT_LENGTH) });
export const structuredContentSchema = z.object({
  type: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z][a-z0-9_.-]*$/, 'lowercase letters, digits and _ . - only')
    .refine((type) => type !== 'text', 'type "text" needs a "text" field')
    .refine((type) => type !== 'parts', 'type "parts" needs a "parts" list of typed parts'),
  data: jsonValueSchema,
  // Never present, so that `content.text` reads as `string | undefined` on any content, text or not.
  text: z
    .never({ error: 'structured content has no "text": put it in "data"' })
    .meta({ type: 'null', description: 'Never present: structured content carries its payload in data' })
    .optional(),
});
export const contentSchema = z.union([textContentSchema, partsContentSchema, structuredContentSchema]);
export type Content = z.infer<typeof contentSchema>;
/** Text content: `{type: 'text', text}`. */
export type TextContent = z.infer<typeof textContentSchema>;

export const actorSchema = z.object({
  kind: z.enum(['user', 'agent', 'assistant', 'system', 'service']),
  id: z.string(),
});
export type Actor = z.infer<typeof actorSchema>;

/**
 * What caused an event: the sender's idempotency key, the event it answers, the generation it belongs to,
 * and, when the server traces, the W3C `traceparent` of the operation that appended it (for correlation only).
 */
export const causationSchema = z.object({
  clientMsgId: z.string().optional(),
  replyTo: z.number().int().positive().optional(),
  generationId: z.string().optional(),
  traceparent: z.string().optional(),
  /** The API key through which a backend appended the event (server API), for attribution. */
  apiKeyId: z.string().optional(),
});
export type Causation = z.infer<typeof causationSchema>;

/** Durable event types of protocol v1. `noun.verb`. The catalogue (catalogue.ts) has the data and audience of each. */
export const DURABLE_EVENT_TYPES = [
  'conversation.created',
  'conversation.updated',
  'members.added',
  'members.removed',
  'message.created',
  'receipt.read',
  'ai.started',
  'ai.tool_call',
  'ai.tool_result',
  'ai.approval_requested',
  'ai.approval_resolved',
  'ai.completed',
  'ai.stopped',
  'ai.failed',
  'handoff.requested',
  'conversation.queued',
  'conversation.assigned',
  'conversation.transferred',
  'conversation.resolved',
  'conversation.reopened',
  'conversation.handed_back',
  'conversation.closed',
  'csat.submitted',
  'note.created',
  'support.summary',
  'support.sentiment',
  'routing.decided',
] as const;

/** The events that end a generation: exactly one of them follows each `ai.started`. */
export const GENERATION_END_TYPES = ['ai.completed', 'ai.stopped', 'ai.failed'] as const;
export type DurableEventType = (typeof DURABLE_EVENT_TYPES)[number];

/**
 * The event envelope. `seq` is per conversation, starts at 1 and has no gaps:
 * a client that sees a jump knows it missed something and can fetch exactly that.
 */
export const eventSchema = z.object({
  id: z.string(),
  tenant: identifierSchema,
  conversation: identifierSchema,
  seq: z.number().int().positive(),
  type: z.string(),
  ts: z.number().int(),
  actor: actorSchema,
  data: z.record(z.string(), z.unknown()),
  causation: causationSchema.optional(),
});
export type ConversationEvent = z.infer<typeof eventSchema>;

/** Ephemeral signal types: published live, never stored, carry no `seq`. */
export const SIGNAL_TYPES = ['typing', 'presence.joined', 'presence.left', 'ai.delta', 'ai.snapshot', 'queue.position', 'agent.viewing', 'staff.event'] as const;
export type SignalType = (typeof SIGNAL_TYPES)[number];

/**
 * The signal envelope. `type` is any string, as for events: a client must tolerate signal types added
 * after it was built (the catalogue types the ones it knows).
 */
export const signalSchema = z.object({
  tenant: identifierSchema,
  conversation: identifierSchema,
  type: z.string().min(1),
  ts: z.number().int(),
  actor: actorSchema,
  data: z.record(z.string(), z.unknown()),
});
export type Signal = z.infer<typeof signalSchema>;

/**
 * `data` of an `ai.delta` signal: the text appended by generation `generationId` at position `index`
 * (0, 1, 2, ... per generation). An `ai.snapshot` carries the whole text so far, up to and including `index`
 * (-1 before the first delta); deltas after it continue at `index + 1`.
 */
export const generationTextSchema = z.object({ generationId: z.string(), index: z.number().int().min(-1), text: z.string() });
export type GenerationText = z.infer<typeof generationTextSchema>;
