import { EVENT_CATALOGUE, STAFF_EVENT_SCHEMAS, type EventData, type StaffEvent, type UnknownType } from '@parley/protocol';
import { ParleyClientError } from './errors.js';

/** A staff-only event type the catalogue knows (notes, summaries, sentiment, routing decisions). */
export type KnownStaffEventType = keyof typeof STAFF_EVENT_SCHEMAS;

type StaffEnvelope = Omit<StaffEvent, 'type' | 'data'>;

/** A staff-only event of a known type whose `data` matched its schema; a union on `type`. */
export type KnownStaffEvent<Type extends KnownStaffEventType = KnownStaffEventType> = {
  [Name in Type]: StaffEnvelope & { type: Name; data: EventData<Name> };
}[Type];
/** A staff-only event of a type this SDK does not know (a newer server's), as it came. */
export type UnknownStaffEvent = StaffEnvelope & { type: UnknownType; data: Record<string, unknown> };
/** What a reader of staff events gets: `switch (event.type)` narrows `data`. */
export type ParleyStaffEvent = KnownStaffEvent | UnknownStaffEvent;

/** The outcome of reading a staff event against the catalogue. */
export type ParsedStaffEvent = { ok: true; event: ParleyStaffEvent } | { ok: false; error: ParleyClientError };

/** Whether a type is one of the catalogue's staff-only event types. */
export function isKnownStaffEventType(type: string): type is KnownStaffEventType {
  return Object.hasOwn(STAFF_EVENT_SCHEMAS, type);
}

/**
 * Reads a staff event against the catalogue, as `parseEvent` reads members' events: a known type with valid data
 * comes back typed, an unknown type as it is, a known type with invalid data as an error (with the event in `details`).
 */
export function parseStaffEvent(event: StaffEvent): ParsedStaffEvent {
  if (!isKnownStaffEventType(event.type)) return { ok: true, event: event as ParleyStaffEvent };
  const result = EVENT_CATALOGUE[event.type].schema.safeParse(event.data);
  if (result.success) return { ok: true, event: event as ParleyStaffEvent };
  const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`).join('; ');
  const message = `staff event ${event.staffSeq} (${event.type}) of ${event.conversation} has invalid data: ${issues}`;
  return { ok: false, error: new ParleyClientError('internal', message, { details: { event } }) };
}
