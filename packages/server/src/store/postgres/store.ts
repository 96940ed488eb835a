import { randomUUID } from 'node:crypto';
import type { ConversationEvent } from '@parley/protocol';
import { ParleyError } from '../../core/errors.js';
import type { Store } from '../../core/ports.js';
import type {
  AppendInput,
  AppendResult,
  ConversationKey,
  ConversationMemory,
  ConversationRecord,
  NewConversation,
  RangeQuery,
} from '../../core/types.js';
import { MIGRATIONS } from './migrations.js';
import type { SqlDatabase, SqlExecutor } from './sql.js';

interface EventRow {
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

interface ConversationRow {
  tenant: string;
  id: string;
  created_by: string;
  created_at: string | number;
  metadata: Record<string, unknown>;
  last_seq: string | number;
  members: string[] | null;
  assistant: string | null;
}

const EVENT_COLUMNS = 'tenant, conversation, seq, id, type, ts, actor_kind, actor_id, data, causation';
// Arbitrary constant: serializes migrations of several nodes starting at once.
const MIGRATION_LOCK_ID = 740_211_801;

function toEvent(row: EventRow): ConversationEvent {
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

function toConversation(row: ConversationRow): ConversationRecord {
  return {
    tenant: row.tenant,
    id: row.id,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    metadata: row.metadata,
    members: row.members ?? [],
    lastSeq: Number(row.last_seq),
    assistant: row.assistant,
  };
}

/** The Store over PostgreSQL: `pg` for servers, PGlite embedded; the SQL is the same. */
export class PostgresStore implements Store {
  constructor(private readonly db: SqlDatabase) {}

  async migrate(): Promise<void> {
    await this.db.transaction(async (tx) => {
      // Everything under the lock, the bookkeeping table too: nodes that start together must not race.
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
      await tx.exec(
        'CREATE TABLE IF NOT EXISTS parley_schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
      );
      const { rows } = await tx.query<{ version: number }>('SELECT version FROM parley_schema_migrations');
      const applied = new Set(rows.map((row) => Number(row.version)));
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await tx.exec(migration.sql);
        await tx.query('INSERT INTO parley_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          Date.now(),
        ]);
      }
    });
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  async createConversation(input: NewConversation): Promise<{ conversation: ConversationRecord; event: ConversationEvent | null }> {
    const { tenant, conversationId } = input.key;
    const now = Date.now();
    const members = [...new Set([input.createdBy, ...input.members])];
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO parley_conversations (tenant, id, created_by, created_at, metadata, last_seq, assistant)
         VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT DO NOTHING RETURNING id`,
        [tenant, conversationId, input.createdBy, now, JSON.stringify(input.metadata), input.assistant],
      );
      if (inserted.rows.length === 0) {
        const existing = await this.getConversationWith(tx, input.key);
        if (!existing) throw new ParleyError('conflict', 'conversation is being created concurrently; retry');
        return { conversation: existing, event: null };
      }
      await tx.query(
        `INSERT INTO parley_members (tenant, conversation, user_id, joined_at)
         SELECT $1, $2, unnest($3::text[]), $4`,
        [tenant, conversationId, members, now],
      );
      const data = { createdBy: input.createdBy, members, metadata: input.metadata, assistant: input.assistant };
      const event = await this.insertOwnEvent(tx, input.key, 1, now, {
        key: input.key,
        type: 'conversation.created',
        actor: { kind: 'user', id: input.createdBy },
        data,
      });
      const conversation: ConversationRecord = {
        tenant,
        id: conversationId,
        createdBy: input.createdBy,
        createdAt: now,
        metadata: input.metadata,
        members,
        lastSeq: 1,
        assistant: input.assistant,
      };
      return { conversation, event };
    });
  }

  getConversation(key: ConversationKey): Promise<ConversationRecord | null> {
    return this.getConversationWith(this.db, key);
  }

  async append(input: AppendInput): Promise<AppendResult> {
    const event = await this.db
      .transaction(async (tx) => {
        const seq = await this.nextSeq(tx, input.key);
        // A re-send hits the idempotency index: rolling back returns the seq it took.
        return (await this.insertEvent(tx, input.key, seq, Date.now(), input)) ?? rollBack();
      })
      .catch((error: unknown) => {
        if (error instanceof Duplicate) return null;
        throw error;
      });
    if (event) return { event, duplicate: false };
    // Committed before this transaction took the row lock, so it is visible now.
    const original = await this.findByClientMsgId(this.db, input, input.causation!.clientMsgId!);
    if (!original) throw new ParleyError('internal', 'a duplicate message could not be read back');
    return { event: original, duplicate: true };
  }

  async readRange(key: ConversationKey, query: RangeQuery): Promise<ConversationEvent[]> {
    const order = query.from === 'oldest' ? 'ASC' : 'DESC';
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM parley_events
       WHERE tenant = $1 AND conversation = $2 AND seq > $3 AND seq < $4
       ORDER BY seq ${order} LIMIT $5`,
      [key.tenant, key.conversationId, query.after ?? 0, query.before ?? Number.MAX_SAFE_INTEGER, query.limit],
    );
    const events = rows.map(toEvent);
    return query.from === 'oldest' ? events : events.reverse();
  }

  async markRead(key: ConversationKey, userId: string, seq: number): Promise<{ seq: number; event: ConversationEvent | null }> {
    return this.db.transaction(async (tx) => {
      const moved = await tx.query(
        `UPDATE parley_members SET last_read_seq = $4
         WHERE tenant = $1 AND conversation = $2 AND user_id = $3 AND last_read_seq < $4 RETURNING last_read_seq`,
        [key.tenant, key.conversationId, userId, seq],
      );
      if (moved.rows.length === 0) {
        const current = await tx.query<{ last_read_seq: string | number }>(
          'SELECT last_read_seq FROM parley_members WHERE tenant = $1 AND conversation = $2 AND user_id = $3',
          [key.tenant, key.conversationId, userId],
        );
        return { seq: Number(current.rows[0]?.last_read_seq ?? 0), event: null };
      }
      const event = await this.insertOwnEvent(tx, key, await this.nextSeq(tx, key), Date.now(), {
        key,
        type: 'receipt.read',
        actor: { kind: 'user', id: userId },
        data: { userId, seq },
      });
      return { seq, event };
    });
  }

  async getMemory(key: ConversationKey): Promise<ConversationMemory | null> {
    const { rows } = await this.db.query<{ summary: string; through_seq: string | number; updated_at: string | number }>(
      'SELECT summary, through_seq, updated_at FROM parley_conversation_memory WHERE tenant = $1 AND conversation = $2',
      [key.tenant, key.conversationId],
    );
    const row = rows[0];
    return row ? { summary: row.summary, throughSeq: Number(row.through_seq), updatedAt: Number(row.updated_at) } : null;
  }

  async putMemory(key: ConversationKey, summary: string, throughSeq: number): Promise<boolean> {
    const { rows } = await this.db.query(
      `INSERT INTO parley_conversation_memory (tenant, conversation, summary, through_seq, updated_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant, conversation) DO UPDATE SET summary = EXCLUDED.summary, through_seq = EXCLUDED.through_seq, updated_at = EXCLUDED.updated_at
       WHERE parley_conversation_memory.through_seq < EXCLUDED.through_seq
       RETURNING through_seq`,
      [key.tenant, key.conversationId, summary, throughSeq, Date.now()],
    );
    return rows.length > 0;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  private async getConversationWith(executor: SqlExecutor, key: ConversationKey): Promise<ConversationRecord | null> {
    const { rows } = await executor.query<ConversationRow>(
      `SELECT c.tenant, c.id, c.created_by, c.created_at, c.metadata, c.last_seq, c.assistant,
              (SELECT array_agg(m.user_id ORDER BY m.user_id) FROM parley_members m
                WHERE m.tenant = c.tenant AND m.conversation = c.id) AS members
       FROM parley_conversations c WHERE c.tenant = $1 AND c.id = $2`,
      [key.tenant, key.conversationId],
    );
    return rows[0] ? toConversation(rows[0]) : null;
  }

  private async findByClientMsgId(executor: SqlExecutor, input: AppendInput, clientMsgId: string): Promise<ConversationEvent | null> {
    const { rows } = await executor.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM parley_events
       WHERE tenant = $1 AND conversation = $2 AND actor_id = $3 AND client_msg_id = $4`,
      [input.key.tenant, input.key.conversationId, input.actor.id, clientMsgId],
    );
    return rows[0] ? toEvent(rows[0]) : null;
  }

  /**
   * Takes the conversation's next seq. The row lock this UPDATE holds until commit orders concurrent
   * writers of one conversation and keeps the seq gapless.
   */
  private async nextSeq(tx: SqlExecutor, key: ConversationKey): Promise<number> {
    const bumped = await tx.query<{ last_seq: string | number }>(
      'UPDATE parley_conversations SET last_seq = last_seq + 1 WHERE tenant = $1 AND id = $2 RETURNING last_seq',
      [key.tenant, key.conversationId],
    );
    const row = bumped.rows[0];
    if (!row) throw new ParleyError('not_found', `conversation ${key.conversationId} does not exist`);
    return Number(row.last_seq);
  }

  /** Inserts an event the store itself writes (no `clientMsgId`, so it cannot be a re-send). */
  private async insertOwnEvent(executor: SqlExecutor, key: ConversationKey, seq: number, ts: number, input: AppendInput): Promise<ConversationEvent> {
    const event = await this.insertEvent(executor, key, seq, ts, input);
    if (!event) throw new ParleyError('internal', `${input.type} was taken for a re-send`);
    return event;
  }

  /** Inserts an event; null when its sender already appended its `clientMsgId` (nothing inserted). */
  private async insertEvent(
    executor: SqlExecutor,
    key: ConversationKey,
    seq: number,
    ts: number,
    input: AppendInput,
  ): Promise<ConversationEvent | null> {
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
    const inserted = await executor.query(
      `INSERT INTO parley_events (${EVENT_COLUMNS}, client_msg_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (tenant, conversation, actor_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING RETURNING seq`,
      [
        key.tenant,
        key.conversationId,
        seq,
        event.id,
        event.type,
        ts,
        input.actor.kind,
        input.actor.id,
        JSON.stringify(input.data),
        input.causation ? JSON.stringify(input.causation) : null,
        input.causation?.clientMsgId ?? null,
      ],
    );
    return inserted.rows.length > 0 ? event : null;
  }
}

/** Aborts the append's transaction: the event is a re-send. */
class Duplicate extends Error {
  constructor() {
    super('duplicate clientMsgId');
  }
}

function rollBack(): never {
  throw new Duplicate();
}
