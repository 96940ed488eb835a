import { z } from 'zod';
import {
  contentSchema,
  eventSchema,
  type Content,
  generationTextSchema,
  signalSchema,
  type ConversationEvent,
  type DurableEventType,
  type Signal,
  type SignalType,
  type TextContent,
} from './events.js';
import { identifierSchema } from './ids.js';
import { partsText, type PartsContent } from './parts.js';
import { answerSourceSchema } from './knowledge.js';
import { STAFF_EVENT_SCHEMAS, staffEventSchema, SUPPORT_EVENT_SCHEMAS } from './support.js';

/**
 * Who may see an event or signal: every member of the conversation (users included), or staff only
 * (agents and admins). Staff-only events take their seqs in a second per-conversation sequence, so a
 * member's log stays gapless and says nothing of them.
 */
export type Audience = 'members' | 'staff';

/** Who is reading: a member (a user of the conversation) or staff (an agent or admin). */
export type Viewer = 'member' | 'staff';

/** One entry of the catalogue: the schema of `data` and who may see it. */
export interface CatalogueEntry<Schema extends z.ZodObject = z.ZodObject> {
  schema: Schema;
  audience: Audience;
}

const generationIdSchema = z.string().min(1);
const toolCallSchema = { generationId: generationIdSchema, toolCallId: z.string().min(1), toolName: z.string().min(1) };

/**
 * Every durable event type, the schema of its `data` and its audience. Fields marked "older servers"
 * were written by earlier versions and stay readable, since stored events are never rewritten.
 */
export const EVENT_CATALOGUE = {
  'conversation.created': {
    schema: z.object({
      createdBy: identifierSchema,
      members: z.array(identifierSchema),
      metadata: z.record(z.string(), z.unknown()),
      /** The assistant profile answering in the conversation, or null; absent in events of older servers. */
      assistant: z.string().nullable().optional(),
    }),
    audience: 'members',
  },
  'conversation.updated': {
    /** The change, as a JSON merge patch of one level: each key's new value, `null` for a key deleted. */
    schema: z.object({ metadata: z.record(z.string(), z.unknown()) }),
    audience: 'members',
  },
  'members.added': {
    /** Who was added; who added them is the event's `actor`. */
    schema: z.object({ userIds: z.array(identifierSchema).min(1) }),
    audience: 'members',
  },
  'members.removed': {
    /** Who was removed (or left); who removed them is the event's `actor`. */
    schema: z.object({ userIds: z.array(identifierSchema).min(1) }),
    audience: 'members',
  },
  'message.created': { schema: z.object({ content: contentSchema }), audience: 'members' },
  'receipt.read': {
    /** `userId` has read everything up to and including `seq`. */
    schema: z.object({ userId: identifierSchema, seq: z.number().int().positive() }),
    audience: 'members',
  },
  'ai.started': {
    /** An answer of assistant profile `profile` to the message at seq `replyTo` began. */
    schema: z.object({ generationId: generationIdSchema, profile: z.string().min(1), replyTo: z.number().int().positive() }),
    audience: 'members',
  },
  'ai.tool_call': { schema: z.object({ ...toolCallSchema, input: z.record(z.string(), z.unknown()) }), audience: 'members' },
  'ai.tool_result': {
    schema: z.object({
      ...toolCallSchema,
      /** What the tool answered; a failure is `{error, message}` here (see `toolResultError`). Absent in older failures. */
      output: z.unknown().optional(),
      /** A failure as older servers wrote it, beside `output` instead of in it. */
      error: z.string().optional(),
    }),
    audience: 'members',
  },
  'ai.approval_requested': {
    schema: z.object({ ...toolCallSchema, approvalId: z.string().min(1), input: z.record(z.string(), z.unknown()) }),
    audience: 'members',
  },
  'ai.approval_resolved': {
    /** The first decision on an approval; who took it is the event's `actor`. */
    schema: z.object({ generationId: generationIdSchema, approvalId: z.string().min(1), approved: z.boolean() }),
    audience: 'members',
  },
  'ai.completed': {
    schema: z.object({
      generationId: generationIdSchema,
      text: z.string(),
      model: z.string(),
      /** Milliseconds from the start to the first token; null when no token was streamed (a tool-only answer). */
      ttftMs: z.number().nonnegative().nullable(),
      usage: z.object({ inputTokens: z.number().nonnegative().nullable(), outputTokens: z.number().nonnegative() }),
      /** The answer came from the answer cache. */
      cached: z.literal(true).optional(),
      /** Knowledge-base passages the answer cites as `[n]`; absent when it cites none. */
      sources: z.array(answerSourceSchema).optional(),
    }),
    audience: 'members',
  },
  'ai.stopped': {
    schema: z.object({
      generationId: generationIdSchema,
      text: z.string(),
      /** Why: someone pressed Stop (`user`), a newer message interrupted it, a handoff to people, or the server shut down. Absent in older events. */
      reason: z.enum(['user', 'interrupt', 'handoff', 'shutdown']).optional(),
    }),
    audience: 'members',
  },
  'ai.failed': {
    schema: z.object({
      generationId: generationIdSchema,
      /** `timeout`, `model_error`, `worker_lost`, `internal`, or the error code that refused the job. */
      code: z.string().min(1),
      message: z.string(),
      /** What was said before the failure. */
      text: z.string(),
      /** The profile's fallback text, to show instead of (or after) `text`. */
      fallbackText: z.string().optional(),
    }),
    audience: 'members',
  },
  'handoff.requested': { schema: SUPPORT_EVENT_SCHEMAS['handoff.requested'], audience: 'members' },
  'conversation.queued': { schema: SUPPORT_EVENT_SCHEMAS['conversation.queued'], audience: 'members' },
  'conversation.assigned': { schema: SUPPORT_EVENT_SCHEMAS['conversation.assigned'], audience: 'members' },
  'conversation.transferred': { schema: SUPPORT_EVENT_SCHEMAS['conversation.transferred'], audience: 'members' },
  'conversation.resolved': { schema: SUPPORT_EVENT_SCHEMAS['conversation.resolved'], audience: 'members' },
  'conversation.reopened': { schema: SUPPORT_EVENT_SCHEMAS['conversation.reopened'], audience: 'members' },
  'conversation.handed_back': { schema: SUPPORT_EVENT_SCHEMAS['conversation.handed_back'], audience: 'members' },
  'conversation.closed': { schema: SUPPORT_EVENT_SCHEMAS['conversation.closed'], audience: 'members' },
  'csat.submitted': { schema: SUPPORT_EVENT_SCHEMAS['csat.submitted'], audience: 'members' },
  'note.created': { schema: STAFF_EVENT_SCHEMAS['note.created'], audience: 'staff' },
  'support.summary': { schema: STAFF_EVENT_SCHEMAS['support.summary'], audience: 'staff' },
  'support.sentiment': { schema: STAFF_EVENT_SCHEMAS['support.sentiment'], audience: 'staff' },
  'routing.decided': { schema: STAFF_EVENT_SCHEMAS['routing.decided'], audience: 'staff' },
} as const satisfies Record<DurableEventType, CatalogueEntry>;

/** Every signal type, the schema of its `data` and its audience. */
export const SIGNAL_CATALOGUE = {
  typing: { schema: z.object({ active: z.boolean() }), audience: 'members' },
  /** The actor came online in the conversation (first connection). */
  'presence.joined': { schema: z.object({}), audience: 'members' },
  /** The actor went offline in the conversation (last connection gone). */
  'presence.left': { schema: z.object({}), audience: 'members' },
  'ai.delta': { schema: generationTextSchema, audience: 'members' },
  'ai.snapshot': { schema: generationTextSchema, audience: 'members' },
  /** The customer's place in the queue and the estimated wait (null: no estimate yet); `closedUntil` when the team is outside its business hours. */
  'queue.position': {
    schema: z.object({ position: z.number().int().positive(), estimatedWaitMs: z.number().int().nonnegative().nullable(), team: identifierSchema.nullable(), closedUntil: z.number().int().nullable().optional() }),
    audience: 'members',
  },
  /** An agent opened (or left) the conversation in the console: collision detection between agents. */
  'agent.viewing': { schema: z.object({ active: z.boolean(), name: z.string().nullable() }), audience: 'staff' },
  /** A staff-only event on its way between nodes; a connection hands it on as a `staffEvent` push, never as a signal. */
  'staff.event': { schema: staffEventSchema, audience: 'staff' },
  /** Something to tell a user; `data` is the application's (any extra keys are kept). */
} as const satisfies Record<SignalType, CatalogueEntry>;

/** A durable event type the catalogue knows. */
export type KnownEventType = keyof typeof EVENT_CATALOGUE;
/** A signal type the catalogue knows. */
export type KnownSignalType = keyof typeof SIGNAL_CATALOGUE;

/** The `data` of a known event type. */
export type EventData<Type extends KnownEventType> = z.output<(typeof EVENT_CATALOGUE)[Type]['schema']>;
/** The `data` of a known signal type. */
export type SignalData<Type extends KnownSignalType> = z.output<(typeof SIGNAL_CATALOGUE)[Type]['schema']>;

/**
 * The `type` of an event or signal this version of the catalogue does not know. A plain string at run time;
 * typed as a string no known name matches (it would end in a NUL character), so that comparing `type` with a
 * known name narrows to that type's event. To test for a name the catalogue lacks, compare `type as string`.
 */
export type UnknownType = `${string}\u0000`;

type EventEnvelope = Omit<ConversationEvent, 'type' | 'data'>;
type SignalEnvelope = Omit<Signal, 'type' | 'data'>;

/** A durable event of a known type whose `data` matched its schema; a union on `type`. */
export type KnownEvent<Type extends KnownEventType = KnownEventType> = { [Name in Type]: EventEnvelope & { type: Name; data: EventData<Name> } }[Type];
/** An event of a type this catalogue does not know (a newer server's): passed through as it came, with its seq. */
export type UnknownEvent = EventEnvelope & { type: UnknownType; data: Record<string, unknown> };
/** What a reader gets: a typed known event, or an unknown one. `switch (event.type)` narrows it. */
export type ParleyEvent = KnownEvent | UnknownEvent;

/** A signal of a known type whose `data` matched its schema; a union on `type`. */
export type KnownSignal<Type extends KnownSignalType = KnownSignalType> = { [Name in Type]: SignalEnvelope & { type: Name; data: SignalData<Name> } }[Type];
/** A signal of a type this catalogue does not know. */
export type UnknownSignal = SignalEnvelope & { type: UnknownType; data: Record<string, unknown> };
/** What a reader gets: a typed known signal, or an unknown one. */
export type ParleySignal = KnownSignal | UnknownSignal;

/** An event or signal of a known type whose `data` does not match the catalogue: reported, never used as typed. */
export class InvalidDataError extends Error {
  override readonly name = 'InvalidDataError';

  constructor(
    /** The event or signal as it came. */
    readonly item: ConversationEvent | Signal,
    readonly issues: readonly z.core.$ZodIssue[],
  ) {
    super(`${describeItem(item)} has invalid data: ${describeIssues(issues)}`);
  }
}

/** The outcome of reading an event against the catalogue. */
export type ParsedEvent = { ok: true; event: ParleyEvent } | { ok: false; event: ConversationEvent; error: InvalidDataError };
/** The outcome of reading a signal against the catalogue. */
export type ParsedSignal = { ok: true; signal: ParleySignal } | { ok: false; signal: Signal; error: InvalidDataError };

/** Whether the catalogue knows this event type. */
export function isKnownEventType(type: string): type is KnownEventType {
  return Object.hasOwn(EVENT_CATALOGUE, type);
}

/** Whether the catalogue knows this signal type. */
export function isKnownSignalType(type: string): type is KnownSignalType {
  return Object.hasOwn(SIGNAL_CATALOGUE, type);
}

/**
 * Reads an event (its envelope already valid) against the catalogue: a known type with valid data comes back
 * typed, an unknown type as it is (the catalogue is open: newer servers add types), a known type with invalid
 * data as an error. The event object itself is returned, not a copy: keys the schema does not name are kept.
 */
export function parseEvent(event: ConversationEvent): ParsedEvent {
  const error = dataError(event, isKnownEventType(event.type) ? EVENT_CATALOGUE[event.type].schema : undefined);
  return error ? { ok: false, event, error } : { ok: true, event: event as ParleyEvent };
}

/** Reads a signal against the catalogue, as `parseEvent` reads events. */
export function parseSignal(signal: Signal): ParsedSignal {
  const error = dataError(signal, isKnownSignalType(signal.type) ? SIGNAL_CATALOGUE[signal.type].schema : undefined);
  return error ? { ok: false, signal, error } : { ok: true, signal: signal as ParleySignal };
}

const strictEventSchemas = new Map<KnownEventType, z.ZodObject>();

/**
 * Checks the `data` of an event about to be written, as a writer must: the type is in the catalogue, the data
 * matches its schema, and it has no key the schema does not name (readers ignore such keys; writers must
 * not invent them). Returns what is wrong, or null.
 */
export function checkEventData(type: string, data: unknown): string | null {
  if (!isKnownEventType(type)) return `event type ${JSON.stringify(type)} is not in the catalogue`;
  let schema = strictEventSchemas.get(type);
  if (!schema) strictEventSchemas.set(type, (schema = EVENT_CATALOGUE[type].schema.strict()));
  const result = schema.safeParse(data);
  return result.success ? null : `${type} data: ${describeIssues(result.error.issues)}`;
}

/** Whether a parsed event is of a known type (and so typed by its `data`). */
export function isKnownEvent(event: ParleyEvent): event is KnownEvent {
  return isKnownEventType(event.type);
}

/** Whether a parsed signal is of a known type. */
export function isKnownSignal(signal: ParleySignal): signal is KnownSignal {
  return isKnownSignalType(signal.type);
}

/**
 * The audience of an event or signal type. A type the catalogue does not know counts as `members`: which
 * sequence an event went into was decided by the server that wrote it and knew its audience, and hiding an
 * event of the members' sequence would leave a gap that a member's client would try to fill forever.
 */
export function audienceOf(type: string): Audience {
  if (isKnownEventType(type)) return EVENT_CATALOGUE[type].audience;
  if (isKnownSignalType(type)) return SIGNAL_CATALOGUE[type].audience;
  return 'members';
}

/** The one visibility filter of every read path: whether `viewer` may see this event or signal. */
export function visibleTo(item: { type: string }, viewer: Viewer): boolean {
  return audienceIncludes(audienceOf(item.type), viewer);
}

/** Whether an audience includes a viewer: staff see everything, members what is for members. */
export function audienceIncludes(audience: Audience, viewer: Viewer): boolean {
  return viewer === 'staff' || audience === 'members';
}

/** The failure a tool result reports (the tool failed, timed out, was denied or stopped), or null when the tool answered. */
export function toolResultError(data: EventData<'ai.tool_result'>): { error: string; message?: string } | null {
  if (data.error !== undefined) return { error: data.error };
  const output = data.output;
  if (typeof output !== 'object' || output === null || Array.isArray(output)) return null;
  const { error, message } = output as { error?: unknown; message?: unknown };
  if (typeof error !== 'string') return null;
  return typeof message === 'string' ? { error, message } : { error };
}

/** Whether message content is text (rather than parts or an application's structured content). */
export function isTextContent(content: Content): content is TextContent {
  return content.type === 'text';
}

/** Whether message content is typed parts (a rich message). */
export function isPartsContent(content: Content): content is PartsContent {
  return content.type === 'parts';
}

/** What the sender wrote: the text, or the text parts of parts content joined by newlines; '' for anything else. */
export function writtenText(content: Content): string {
  if (isTextContent(content)) return content.text;
  if (isPartsContent(content)) return content.parts.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join('\n');
  return '';
}

/** Content as plain text: text as it is, parts through `partsText`, structured content as its type and data. */
export function contentText(content: Content): string {
  if (isTextContent(content)) return content.text;
  if (isPartsContent(content)) return partsText(content.parts);
  return `[${content.type}] ${JSON.stringify(content.data)}`;
}

/** Every known event as one zod schema, a discriminated union on `type` (for documents such as OpenAPI). */
export const knownEventSchema = unionOnType(
  typedEntries(EVENT_CATALOGUE).map(([type, entry]) => eventSchema.extend({ type: z.literal(type), data: entry.schema })),
) as unknown as z.ZodType<KnownEvent>;

/** Every known signal as one zod schema, a discriminated union on `type`. */
export const knownSignalSchema = unionOnType(
  typedEntries(SIGNAL_CATALOGUE).map(([type, entry]) => signalSchema.extend({ type: z.literal(type), data: entry.schema })),
) as unknown as z.ZodType<KnownSignal>;

function unionOnType(options: z.ZodObject[]) {
  const [first, ...rest] = options;
  return z.discriminatedUnion('type', [first!, ...rest]);
}

function dataError(item: ConversationEvent | Signal, schema: z.ZodObject | undefined): InvalidDataError | null {
  if (!schema) return null;
  const result = schema.safeParse(item.data);
  return result.success ? null : new InvalidDataError(item, result.error.issues);
}

function describeItem(item: ConversationEvent | Signal): string {
  return 'seq' in item ? `event ${item.seq} (${item.type}) of ${item.conversation}` : `signal ${item.type} of ${item.conversation}`;
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`).join('; ');
}

function typedEntries<Catalogue extends Record<string, CatalogueEntry>>(catalogue: Catalogue): Array<[keyof Catalogue & string, CatalogueEntry]> {
  return Object.entries(catalogue) as Array<[keyof Catalogue & string, CatalogueEntry]>;
}
