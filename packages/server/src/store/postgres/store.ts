import type { Actor, ConversationEvent } from '@parley/protocol';
import { ParleyError } from '../../core/errors.js';
import type { ActivityCursor, MemberStore, Store } from '../../core/ports.js';
import type {
  AppendInput,
  AppendResult,
  ConversationKey,
  ConversationListing,
  ConversationMemory,
  ConversationRecord,
  MemberRecord,
  NewConversation,
  SupportRecord,
  Page,
  RangeQuery,
} from '../../core/types.js';
import { CONVERSATION_COLUMNS, toConversation, type ConversationRow } from './conversation-rows.js';
import { EVENT_COLUMNS, insertEvents, newEvent, toEvent, type EventRow } from './event-rows.js';
import { MIGRATIONS } from './migrations.js';
import type { SqlDatabase, SqlExecutor } from './sql.js';
import { PostgresSupportStore } from './support-store.js';
import { PostgresWebhookStore } from './webhook-store.js';

/** Store settings. */
export interface StoreOptions {
  /** Conversations with more members than this carry none in their record (see ConversationRecord.members). */
  largeRoomMembers: number;
}

// Appends of one conversation committed together at most (bounds one transaction's size).
const MAX_APPEND_GROUP = 256;
// Arbitrary constant: serializes migrations of several nodes starting at once.
const MIGRATION_LOCK_ID = 740_211_801;

interface PendingAppend {
  input: AppendInput;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/** The Store and MemberStore over PostgreSQL: `pg` for servers, PGlite embedded; the SQL is the same. */
export class PostgresStore implements Store, MemberStore {
  /** Appends waiting for their conversation's transaction under way, by conversation. */
  private readonly appendsWaiting = new Map<string, PendingAppend[]>();
  /** Webhook endpoints and deliveries, in the same database. */
  readonly webhooks: PostgresWebhookStore;
  /** The support desk's modes, staff events, agents and teams, in the same database. */
  readonly support: PostgresSupportStore;

  constructor(
    private readonly db: SqlDatabase,
    private readonly options: StoreOptions = { largeRoomMembers: 100 },
  ) {
    this.webhooks = new PostgresWebhookStore(db);
    this.support = new PostgresSupportStore(db, options.largeRoomMembers);
  }

  /** The database under this store, for the stores that share it (reaction cursors, keys). */
  get database(): SqlDatabase {
    return this.db;
  }

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
    const creatorKind = input.creatorKind ?? 'user';
    const creatorIsMember = creatorKind === 'user' || creatorKind === 'agent';
    const members = [...new Set(creatorIsMember ? [input.createdBy, ...input.members] : input.members)];
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query(
        `INSERT INTO parley_conversations (tenant, id, created_by, created_at, metadata, last_seq, assistant, member_count, last_event_at, mode)
         VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $4, CASE WHEN $6::text IS NULL THEN NULL ELSE 'assistant' END) ON CONFLICT DO NOTHING RETURNING id`,
        [tenant, conversationId, input.createdBy, now, JSON.stringify(input.metadata), input.assistant, members.length],
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
      // Takes seq 1 the way every event takes its seq.
      const event = newEvent(input.key, 0, now, { key: input.key, type: 'conversation.created', actor: { kind: creatorKind, id: input.createdBy }, data });
      await insertEvents(tx, input.key, [event]);
      const conversation: ConversationRecord = {
        tenant,
        id: conversationId,
        createdBy: input.createdBy,
        createdAt: now,
        metadata: input.metadata,
        members: members.length <= this.options.largeRoomMembers ? [...members].sort() : null,
        memberCount: members.length,
        lastSeq: 1,
        lastEventAt: now,
        assistant: input.assistant,
        support: input.assistant === null ? null : newSupportRecord(),
      };
      return { conversation, event };
    });
  }

  getConversation(key: ConversationKey): Promise<ConversationRecord | null> {
    return this.getConversationWith(this.db, key);
  }

  /**
   * Appends are committed in groups per conversation: while one transaction of a conversation is under way,
   * the appends that arrive wait and then go together in the next one (in arrival order, so seqs follow
   * it). One commit (one WAL flush) then serves many messages under load, and a lone append is not delayed.
   */
  append(input: AppendInput): Promise<AppendResult> {
    // A conditional append is not grouped: its condition would fail the whole group.
    if (input.requireModes) return this.appendOne(input);
    const name = `${input.key.tenant}/${input.key.conversationId}`;
    return new Promise((resolve, reject) => {
      const waiting = this.appendsWaiting.get(name);
      if (waiting) {
        waiting.push({ input, resolve, reject });
        return;
      }
      this.appendsWaiting.set(name, [{ input, resolve, reject }]);
      void this.commitAppends(name);
    });
  }

  private async commitAppends(name: string): Promise<void> {
    const waiting = this.appendsWaiting.get(name)!;
    while (waiting.length > 0) {
      const group = waiting.splice(0, MAX_APPEND_GROUP);
      try {
        const results = group.length === 1 ? [await this.appendOne(group[0]!.input)] : await this.appendGroup(group.map((each) => each.input));
        group.forEach((each, index) => each.resolve(results[index]!));
      } catch (error) {
        // One bad append must not fail the others: alone, each gets its own outcome.
        if (group.length === 1) group[0]!.reject(error);
        else for (const each of group) await this.appendOne(each.input).then(each.resolve, each.reject);
      }
    }
    this.appendsWaiting.delete(name);
  }

  private async appendOne(input: AppendInput): Promise<AppendResult> {
    const event = newEvent(input.key, 0, Date.now(), input);
    try {
      await insertEvents(this.db, input.key, [event], input.requireModes);
      return { event, duplicate: false };
    } catch (error) {
      // A re-send is answered with its original whatever the mode is now (a conditional append is idempotent too).
      const refusedForMode = input.requireModes !== undefined && error instanceof ParleyError && error.code === 'conflict';
      if (!isUniqueViolation(error) && !(refusedForMode && input.causation?.clientMsgId !== undefined)) throw error;
      if (refusedForMode) {
        const original = await this.findByClientMsgId(this.db, input, input.causation!.clientMsgId!);
        if (!original) throw error;
        return { event: original, duplicate: true };
      }
    }
    // A re-send: the original was committed before this statement took the row lock, so it is visible now.
    const original = await this.findByClientMsgId(this.db, input, input.causation!.clientMsgId!);
    if (!original) throw new ParleyError('internal', 'a duplicate message could not be read back');
    return { event: original, duplicate: true };
  }

  /**
   * Appends several events of one conversation in one statement: re-sends (earlier, or twice in the group)
   * get the original, the others the next seqs in order. Throws if anything is off (the caller then
   * appends them one by one).
   */
  private async appendGroup(inputs: AppendInput[]): Promise<AppendResult[]> {
    const key = inputs[0]!.key;
    const originals = await this.findOriginals(key, inputs);
    const results: Array<AppendResult | null> = [];
    const fresh: ConversationEvent[] = [];
    const firstOfGroup = new Map<string, number>();
    const ts = Date.now();
    for (const input of inputs) {
      const clientMsgId = input.causation?.clientMsgId;
      const idempotencyKey = clientMsgId === undefined ? null : `${input.actor.id}\u0000${clientMsgId}`;
      const original = idempotencyKey === null ? undefined : originals.get(idempotencyKey);
      if (original) {
        results.push({ event: original, duplicate: true });
        continue;
      }
      const repeated = idempotencyKey === null ? undefined : firstOfGroup.get(idempotencyKey);
      if (repeated !== undefined) {
        results.push({ event: fresh[repeated]!, duplicate: true });
        continue;
      }
      if (idempotencyKey !== null) firstOfGroup.set(idempotencyKey, fresh.length);
      fresh.push(newEvent(key, 0, ts, input));
      results.push(null);
    }
    // A re-send that another node commits between the lookup and this insert fails the whole statement.
    if (fresh.length > 0) await insertEvents(this.db, key, fresh);
    let next = 0;
    return results.map((result) => result ?? { event: fresh[next++]!, duplicate: false });
  }

  /** The stored events of the inputs that are re-sends (by sender and `clientMsgId`). */
  private async findOriginals(key: ConversationKey, inputs: AppendInput[]): Promise<Map<string, ConversationEvent>> {
    const keyed = inputs.filter((input) => input.causation?.clientMsgId !== undefined);
    if (keyed.length === 0) return new Map();
    const { rows } = await this.db.query<EventRow & { client_msg_id: string }>(
      `SELECT ${EVENT_COLUMNS}, client_msg_id FROM parley_events
       WHERE tenant = $1 AND conversation = $2
         AND (actor_id, client_msg_id) IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
      [key.tenant, key.conversationId, keyed.map((input) => input.actor.id), keyed.map((input) => input.causation!.clientMsgId!)],
    );
    return new Map(rows.map((row) => [`${row.actor_id}\u0000${row.client_msg_id}`, toEvent(row)]));
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

  async markRead(key: ConversationKey, userId: string, seq: number, durable: boolean): Promise<{ seq: number; moved: boolean; event: ConversationEvent | null }> {
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
        return { seq: Number(current.rows[0]?.last_read_seq ?? 0), moved: false, event: null };
      }
      if (!durable) return { seq, moved: true, event: null };
      const event = newEvent(key, 0, Date.now(), { key, type: 'receipt.read', actor: { kind: 'user', id: userId }, data: { userId, seq } });
      await insertEvents(tx, key, [event]);
      return { seq, moved: true, event };
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
      `SELECT ${CONVERSATION_COLUMNS} FROM parley_conversations c WHERE c.tenant = $1 AND c.id = $2`,
      [key.tenant, key.conversationId, this.options.largeRoomMembers],
    );
    return rows[0] ? toConversation(rows[0], this.options.largeRoomMembers) : null;
  }

  async updateMetadata(key: ConversationKey, patch: Record<string, unknown>, actor: Actor): Promise<{ conversation: ConversationRecord; event: ConversationEvent } | null> {
    return this.db.transaction(async (tx) => {
      // `||` replaces top-level keys; the keys set to null are then removed.
      const removed = Object.keys(patch).filter((name) => patch[name] === null);
      const updated = await tx.query(
        `UPDATE parley_conversations SET metadata = (metadata || $3::jsonb) - $4::text[] WHERE tenant = $1 AND id = $2 RETURNING id`,
        [key.tenant, key.conversationId, JSON.stringify(patch), removed],
      );
      if (updated.rows.length === 0) return null;
      const event = newEvent(key, 0, Date.now(), { key, type: 'conversation.updated', actor, data: { metadata: patch } });
      await insertEvents(tx, key, [event]);
      return { conversation: (await this.getConversationWith(tx, key))!, event };
    });
  }

  async addMembers(key: ConversationKey, userIds: string[], actor: Actor): Promise<{ added: string[]; event: ConversationEvent | null }> {
    return this.db.transaction(async (tx) => {
      const now = Date.now();
      const { rows } = await tx.query<{ user_id: string }>(
        `INSERT INTO parley_members (tenant, conversation, user_id, joined_at)
         SELECT $1, $2, u, $4 FROM unnest($3::text[]) AS u
           WHERE EXISTS (SELECT 1 FROM parley_conversations WHERE tenant = $1 AND id = $2)
         ON CONFLICT DO NOTHING RETURNING user_id`,
        [key.tenant, key.conversationId, [...new Set(userIds)], now],
      );
      return this.recordMembership(tx, key, 'members.added', rows.map((row) => row.user_id).sort(), actor);
    }).then(({ changed, event }) => ({ added: changed, event }));
  }

  async removeMembers(key: ConversationKey, userIds: string[], actor: Actor): Promise<{ removed: string[]; event: ConversationEvent | null }> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ user_id: string }>(
        'DELETE FROM parley_members WHERE tenant = $1 AND conversation = $2 AND user_id = ANY($3::text[]) RETURNING user_id',
        [key.tenant, key.conversationId, userIds],
      );
      return this.recordMembership(tx, key, 'members.removed', rows.map((row) => row.user_id).sort(), actor);
    }).then(({ changed, event }) => ({ removed: changed, event }));
  }

  /** Keeps the member count and appends the event of a membership change, in the change's transaction. */
  private async recordMembership(tx: SqlExecutor, key: ConversationKey, type: 'members.added' | 'members.removed', changed: string[], actor: Actor): Promise<{ changed: string[]; event: ConversationEvent | null }> {
    if (changed.length === 0) {
      if (!(await this.getConversationWith(tx, key))) throw new ParleyError('not_found', `conversation ${key.conversationId} does not exist`);
      return { changed, event: null };
    }
    const delta = type === 'members.added' ? changed.length : -changed.length;
    await tx.query('UPDATE parley_conversations SET member_count = member_count + $3 WHERE tenant = $1 AND id = $2', [key.tenant, key.conversationId, delta]);
    const event = newEvent(key, 0, Date.now(), { key, type, actor, data: { userIds: changed } });
    await insertEvents(tx, key, [event]);
    return { changed, event };
  }

  async isMember(key: ConversationKey, userId: string): Promise<boolean> {
    const { rows } = await this.db.query('SELECT 1 FROM parley_members WHERE tenant = $1 AND conversation = $2 AND user_id = $3', [key.tenant, key.conversationId, userId]);
    return rows.length > 0;
  }

  async listMembers(key: ConversationKey, after: string | null, limit: number): Promise<Page<MemberRecord, string>> {
    const { rows } = await this.db.query<{ user_id: string; joined_at: string | number; last_read_seq: string | number }>(
      `SELECT user_id, joined_at, last_read_seq FROM parley_members
       WHERE tenant = $1 AND conversation = $2 AND user_id > $3 ORDER BY user_id LIMIT $4`,
      [key.tenant, key.conversationId, after ?? '', limit + 1],
    );
    const items = rows.slice(0, limit).map((row) => ({ userId: row.user_id, joinedAt: Number(row.joined_at), lastReadSeq: Number(row.last_read_seq) }));
    return { items, next: rows.length > limit ? items[items.length - 1]!.userId : null };
  }

  async listConversations(tenant: string, userId: string, after: ActivityCursor | null, limit: number): Promise<Page<ConversationListing, ActivityCursor>> {
    const { rows } = await this.db.query<ConversationRow & { last_read_seq: string | number }>(
      `SELECT ${CONVERSATION_COLUMNS}, mine.last_read_seq
       FROM parley_members mine JOIN parley_conversations c ON c.tenant = mine.tenant AND c.id = mine.conversation
       WHERE mine.tenant = $1 AND mine.user_id = $2 AND (c.last_event_at, c.id) < ($4, $5)
       ORDER BY c.last_event_at DESC, c.id DESC LIMIT $6`,
      [tenant, userId, this.options.largeRoomMembers, after?.lastEventAt ?? Number.MAX_SAFE_INTEGER, after?.conversationId ?? '', limit + 1],
    );
    const items = rows.slice(0, limit).map((row) => ({ conversation: toConversation(row, this.options.largeRoomMembers), lastReadSeq: Number(row.last_read_seq) }));
    const last = items[items.length - 1]?.conversation;
    return { items, next: rows.length > limit && last ? { lastEventAt: last.lastEventAt, conversationId: last.id } : null };
  }

  private async findByClientMsgId(executor: SqlExecutor, input: AppendInput, clientMsgId: string): Promise<ConversationEvent | null> {
    const { rows } = await executor.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM parley_events
       WHERE tenant = $1 AND conversation = $2 AND actor_id = $3 AND client_msg_id = $4`,
      [input.key.tenant, input.key.conversationId, input.actor.id, clientMsgId],
    );
    return rows[0] ? toEvent(rows[0]) : null;
  }
}

/** A unique index refused the row: for an append, the message is a re-send (PostgreSQL error 23505). */
function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}

/** A new support conversation's state: the assistant answers. */
function newSupportRecord(): SupportRecord {
  return { mode: 'assistant', team: null, assigneeId: null, assigneeName: null, accepted: false, assignedAt: null, queuedAt: null, priority: 0, resolution: 0, rated: false, lastStaffSeq: 0, sentiment: null, firstResponseAt: null, handedOff: false };
}
