import { randomUUID } from 'node:crypto';
import type { ConversationEvent, ConversationMode } from '@parley/protocol';
import { ParleyError } from '../../core/errors.js';
import type { AppendInput, ConversationKey } from '../../core/types.js';
import { DATABASE_NOW_MS, type SqlExecutor } from './sql.js';

/** An event as stored (bigints may come back as strings). */
export interface EventRow {
  tenant: string;
  conversation: string;
  seq: string | number;
  id: string;
  type: string;
  ts: string | number;
  actor_kind: ConversationEvent['actor']['kind'];
  actor_id: string;
  data: Record<string, unknown>;
  causation: ConversationEvent['causation'] | null;
}

/** The columns of an event, in the order `toEvent` reads them. */
export const EVENT_COLUMNS = 'tenant, conversation, seq, id, type, ts, actor_kind, actor_id, data, causation';
/**
 * Moves a conversation's `last_event_at` to now (database clock) when it is a second old or more: an
 * append to a busy conversation then changes no indexed column, and PostgreSQL updates the row in place
 * (HOT) instead of adding an entry to each of the table's indexes.
 */
export const STAMP_ACTIVITY = `last_event_at = CASE WHEN last_event_at <= ${DATABASE_NOW_MS} - 1000 THEN ${DATABASE_NOW_MS} ELSE last_event_at END`;
/** A stored event row as the event clients receive. */
export function toEvent(row: EventRow): ConversationEvent {
  const event: ConversationEvent = {
    id: row.id,
    tenant: row.tenant,
    conversation: row.conversation,
    seq: Number(row.seq),
    type: row.type,
    ts: Number(row.ts),
    actor: { kind: row.actor_kind, id: row.actor_id },
    data: row.data,
  };
  if (row.causation) event.causation = row.causation;
  return event;
}

export function newEvent(key: ConversationKey, seq: number, ts: number, input: AppendInput): ConversationEvent {
  const event: ConversationEvent = {
    id: randomUUID(),
    tenant: key.tenant,
    conversation: key.conversationId,
    seq,
    type: input.type,
    ts,
    actor: input.actor,
    data: input.data,
  };
  if (input.causation) event.causation = input.causation;
  return event;
}

/**
 * Takes the conversation's next seqs and inserts the events with them, in one statement (one round trip;
 * outside a transaction, one commit). Every event takes its seq here. The row lock of the UPDATE orders concurrent writers of one conversation and keeps seqs
 * gapless; a re-send hits the idempotency index and fails the statement, taking nothing. With `requireModes`
 * the UPDATE matches only a conversation in one of them, under the same row lock: an AI answer cannot start
 * once a person owns the conversation, however the two race. The same UPDATE
 * stamps the conversation's `last_event_at`: the outbox the reactions' sweep reads (docs/architecture.md, Reactions).
 */
export async function insertEvents(executor: SqlExecutor, key: ConversationKey, events: ConversationEvent[], requireModes?: readonly ConversationMode[]): Promise<void> {
  const { rows } = await executor.query<{ seq: string | number }>(
    `WITH bumped AS (
       UPDATE parley_conversations SET last_seq = last_seq + $3, ${STAMP_ACTIVITY}
       WHERE tenant = $1 AND id = $2 AND ($12::text[] IS NULL OR mode = ANY($12::text[])) RETURNING last_seq
     )
     INSERT INTO parley_events (${EVENT_COLUMNS}, client_msg_id)
     SELECT $1, $2, bumped.last_seq - $3 + batch.n, batch.id, batch.type, $4, batch.actor_kind, batch.actor_id,
            batch.data::jsonb, batch.causation::jsonb, batch.client_msg_id
     FROM bumped, unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
       WITH ORDINALITY AS batch(id, type, actor_kind, actor_id, data, causation, client_msg_id, n)
     ORDER BY batch.n
     RETURNING seq`,
    [
      key.tenant,
      key.conversationId,
      events.length,
      events[0]!.ts,
      events.map((event) => event.id),
      events.map((event) => event.type),
      events.map((event) => event.actor.kind),
      events.map((event) => event.actor.id),
      events.map((event) => JSON.stringify(event.data)),
      events.map((event) => (event.causation ? JSON.stringify(event.causation) : null)),
      events.map((event) => event.causation?.clientMsgId ?? null),
      requireModes ?? null,
    ],
  );
  if (rows.length === 0) {
    if (requireModes) await refuseForMode(executor, key, requireModes);
    throw new ParleyError('not_found', `conversation ${key.conversationId} does not exist`);
  }
  const last = Math.max(...rows.map((row) => Number(row.seq)));
  events.forEach((event, index) => (event.seq = last - events.length + 1 + index));
}

/** Throws `conflict` (with the mode in its details) if the conversation exists in a mode other than `modes`. */
async function refuseForMode(executor: SqlExecutor, key: ConversationKey, modes: readonly ConversationMode[]): Promise<void> {
  const { rows } = await executor.query<{ mode: ConversationMode | null }>('SELECT mode FROM parley_conversations WHERE tenant = $1 AND id = $2', [key.tenant, key.conversationId]);
  const row = rows[0];
  if (!row) return;
  throw new ParleyError('conflict', `not allowed while the conversation is ${row.mode ?? 'not a support conversation'} (needs ${modes.join(' or ')})`, { details: { mode: row.mode } });
}
