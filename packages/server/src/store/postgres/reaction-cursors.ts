import { randomUUID } from 'node:crypto';
import type { ReactionClaim, ReactionCursors } from '../../core/ports.js';
import type { ConversationKey } from '../../core/types.js';
import { DATABASE_NOW_MS, type SqlDatabase } from './sql.js';
import { EVENT_COLUMNS, toEvent, type EventRow } from './store.js';

interface ClaimRow extends Partial<EventRow> {
  cursor: string | number;
  attempts: number;
  claimed: boolean;
}

const NOW = `now AS (SELECT ${DATABASE_NOW_MS} AS ms)`;
const EVENTS_AFTER_HELD = `SELECT held.cursor, held.attempts, held.claimed, ${EVENT_COLUMNS.split(', ').map((column) => `e.${column}`).join(', ')}
  FROM held LEFT JOIN LATERAL (
    SELECT ${EVENT_COLUMNS} FROM parley_events
    WHERE tenant = $2 AND conversation = $3 AND seq > held.cursor AND held.claimed
    ORDER BY seq LIMIT $6
  ) e ON true
  ORDER BY e.seq`;
// Where a reaction's new cursor starts: at 0 in a conversation created after the reaction was registered,
// else after the last event appended before it (an upgrade must not act on old conversations' history).
const START_SEQ = `CASE WHEN c.created_at >= p.registered_at THEN 0 ELSE COALESCE((
    SELECT s.seq FROM parley_events s WHERE s.tenant = c.tenant AND s.conversation = c.id AND s.ts < p.registered_at
    ORDER BY s.seq DESC LIMIT 1), 0) END`;
// $1 reaction, $2 tenant, $3 conversation, $4 token, $5 lease ms, $6 page size.
const CLAIM_EXISTING = `WITH ${NOW}, held AS (
  UPDATE parley_reaction_cursors r SET
    lease_token = CASE WHEN r.due_at <= now.ms OR r.lease_token = $4 THEN $4 ELSE r.lease_token END,
    due_at = CASE WHEN r.due_at <= now.ms OR r.lease_token = $4 THEN now.ms + $5 ELSE r.due_at END,
    wake_pending = NOT (r.due_at <= now.ms OR r.lease_token IS NOT DISTINCT FROM $4)
  FROM now WHERE r.reaction = $1 AND r.tenant = $2 AND r.conversation = $3
  RETURNING r.seq AS cursor, r.attempts, r.lease_token = $4 AS claimed
) ${EVENTS_AFTER_HELD}`;
const CLAIM_NEW = `WITH ${NOW}, held AS (
  INSERT INTO parley_reaction_cursors (reaction, tenant, conversation, seq, lease_token, due_at)
  SELECT $1, c.tenant, c.id, ${START_SEQ}, $4, now.ms + $5
  FROM parley_conversations c, parley_reactions p, now
  WHERE c.tenant = $2 AND c.id = $3 AND p.name = $1
  ON CONFLICT DO NOTHING
  RETURNING seq AS cursor, attempts, true AS claimed
) ${EVENTS_AFTER_HELD}`;
const KEY_AND_TOKEN = 'r.reaction = $1 AND r.tenant = $2 AND r.conversation = $3 AND r.lease_token = $4';
// More may have come while the events were handled: a node woken for the conversation could not claim it
// (and said so in wake_pending), or the conversation is ahead. Then the hold is kept and renewed.
const SETTLE = `WITH ${NOW}
  UPDATE parley_reaction_cursors r SET
    seq = GREATEST(r.seq, $5), attempts = 0, last_error = NULL, wake_pending = false,
    lease_token = CASE WHEN r.wake_pending OR c.last_seq > GREATEST(r.seq, $5) THEN r.lease_token END,
    due_at = CASE WHEN r.wake_pending OR c.last_seq > GREATEST(r.seq, $5) THEN now.ms + $6 ELSE 0 END
  FROM parley_conversations c, now
  WHERE ${KEY_AND_TOKEN} AND c.tenant = r.tenant AND c.id = r.conversation
  RETURNING r.lease_token IS NOT NULL AS more`;
const FAIL = `WITH ${NOW}
  UPDATE parley_reaction_cursors r SET lease_token = NULL, wake_pending = false, attempts = r.attempts + 1,
    last_error = left($5, 1000), due_at = now.ms + $6
  FROM now WHERE ${KEY_AND_TOKEN}`;
const RENEW = `WITH ${NOW} UPDATE parley_reaction_cursors r SET due_at = now.ms + $5 FROM now WHERE ${KEY_AND_TOKEN} RETURNING 1`;
const TAKE_SWEEP = `WITH ${NOW}
  UPDATE parley_reactions p SET sweep_until = now.ms + $2 FROM now WHERE p.name = $1 AND p.sweep_until <= now.ms
  RETURNING p.swept_at, now.ms AS started`;
// Conversations changed since `$2` whose cursor is behind (or missing) and not already due or held get
// due now; a missing cursor is made where the reaction starts (due only if that leaves events to handle).
const MARK_DUE = `WITH ${NOW}, candidates AS (
  SELECT c.tenant, c.id, c.created_at, c.last_seq, c.last_event_at FROM parley_conversations c
  WHERE c.last_event_at >= $2 AND NOT EXISTS (
    SELECT 1 FROM parley_reaction_cursors r WHERE r.reaction = $1 AND r.tenant = c.tenant AND r.conversation = c.id
      AND (r.seq >= c.last_seq OR r.due_at > 0))
  ORDER BY c.last_event_at LIMIT $3
), marked AS (
  INSERT INTO parley_reaction_cursors AS r (reaction, tenant, conversation, seq, due_at)
  SELECT $1, c.tenant, c.id, start.seq, CASE WHEN start.seq < c.last_seq THEN now.ms ELSE 0 END
  FROM candidates c, parley_reactions p, now, LATERAL (SELECT ${START_SEQ} AS seq) start
  WHERE p.name = $1
  ON CONFLICT (reaction, tenant, conversation) DO UPDATE SET due_at = EXCLUDED.due_at WHERE r.due_at = 0
  RETURNING 1
)
SELECT count(*) AS found, max(last_event_at) AS reached FROM candidates`;
const DUE = `SELECT tenant, conversation FROM parley_reaction_cursors
  WHERE reaction = $1 AND due_at > 0 AND due_at <= ${DATABASE_NOW_MS} ORDER BY due_at LIMIT $2`;
// Recently changed conversations whose cursor is behind (a missing cursor counts one event, from the
// conversation's last change), plus older ones that are due (failing, or held by a node that died).
const BACKLOG = `WITH ${NOW}, behind AS (
  SELECT c.last_seq - COALESCE(r.seq, c.last_seq - 1) AS events, COALESCE(e.ts, c.last_event_at) AS oldest
  FROM parley_conversations c CROSS JOIN now
  LEFT JOIN parley_reaction_cursors r ON r.reaction = $1 AND r.tenant = c.tenant AND r.conversation = c.id
  LEFT JOIN parley_events e ON e.tenant = c.tenant AND e.conversation = c.id AND e.seq = r.seq + 1
  WHERE c.last_event_at >= now.ms - $2 AND (r.seq IS NULL OR r.seq < c.last_seq)
  UNION ALL
  SELECT c.last_seq - r.seq, COALESCE(e.ts, c.last_event_at)
  FROM parley_reaction_cursors r CROSS JOIN now
  JOIN parley_conversations c ON c.tenant = r.tenant AND c.id = r.conversation
  LEFT JOIN parley_events e ON e.tenant = r.tenant AND e.conversation = r.conversation AND e.seq = r.seq + 1
  WHERE r.reaction = $1 AND r.due_at > 0 AND c.last_event_at < now.ms - $2 AND r.seq < c.last_seq
)
SELECT min(oldest) AS oldest, COALESCE(sum(events), 0) AS events FROM behind`;

/** The reactions' cursors in the store's database (tables of migration 5); the same SQL on PostgreSQL and PGlite. */
export class PostgresReactionCursors implements ReactionCursors {
  constructor(private readonly db: SqlDatabase) {}

  async register(reaction: string): Promise<void> {
    await this.db.query(
      `INSERT INTO parley_reactions (name, registered_at, swept_at) VALUES ($1, $2, ${DATABASE_NOW_MS}) ON CONFLICT (name) DO NOTHING`,
      // Compared with events' `ts`, which the appending nodes stamp with their clocks.
      [reaction, Date.now()],
    );
  }

  async claim(reaction: string, key: ConversationKey, options: { leaseMs: number; limit: number; token?: string }): Promise<ReactionClaim | null> {
    const token = options.token ?? randomUUID();
    const parameters = [reaction, key.tenant, key.conversationId, token, options.leaseMs, options.limit];
    let { rows } = await this.db.query<ClaimRow>(CLAIM_EXISTING, parameters);
    // The first visit: the cursor is made. Another node making it at once wins; then it is theirs or ours by the lease.
    if (rows.length === 0) ({ rows } = await this.db.query<ClaimRow>(CLAIM_NEW, parameters));
    if (rows.length === 0 && options.token === undefined) ({ rows } = await this.db.query<ClaimRow>(CLAIM_EXISTING, parameters));
    const first = rows[0];
    if (!first?.claimed) return null;
    const events = rows.filter((row) => row.id !== null && row.id !== undefined).map((row) => toEvent(row as EventRow));
    return { reaction, key, token, seq: Number(first.cursor), attempts: Number(first.attempts), events };
  }

  async renew(claim: ReactionClaim, leaseMs: number): Promise<boolean> {
    const { rows } = await this.db.query(RENEW, [...keyOf(claim), leaseMs]);
    return rows.length > 0;
  }

  async settle(claim: ReactionClaim, seq: number, leaseMs: number): Promise<'released' | 'more' | 'lost'> {
    const { rows } = await this.db.query<{ more: boolean }>(SETTLE, [...keyOf(claim), seq, leaseMs]);
    if (rows.length === 0) return 'lost';
    return rows[0]!.more ? 'more' : 'released';
  }

  async fail(claim: ReactionClaim, retryInMs: number, error: string): Promise<void> {
    await this.db.query(FAIL, [...keyOf(claim), error, Math.max(1, Math.round(retryInMs))]);
  }

  async sweep(reaction: string, options: { lookbackMs: number; limit: number; intervalMs: number }): Promise<boolean> {
    const taken = await this.db.query<{ swept_at: string | number; started: string | number }>(TAKE_SWEEP, [reaction, options.intervalMs]);
    const sweep = taken.rows[0];
    if (!sweep) return false;
    const started = Number(sweep.started);
    const { rows } = await this.db.query<{ found: string | number; reached: string | number | null }>(MARK_DUE, [reaction, Number(sweep.swept_at) - options.lookbackMs, options.limit]);
    const found = Number(rows[0]?.found ?? 0);
    // A full page: the next sweep goes on from the last change it reached; else everything until `started` is marked.
    const sweptAt = found < options.limit ? started : Math.min(started, Number(rows[0]!.reached) + options.lookbackMs);
    await this.db.query('UPDATE parley_reactions SET swept_at = GREATEST(swept_at, $2), sweep_until = 0 WHERE name = $1', [reaction, sweptAt]);
    return true;
  }

  async due(reaction: string, limit: number): Promise<ConversationKey[]> {
    const { rows } = await this.db.query<{ tenant: string; conversation: string }>(DUE, [reaction, limit]);
    return rows.map((row) => ({ tenant: row.tenant, conversationId: row.conversation }));
  }

  async backlog(reaction: string, lookbackMs: number): Promise<{ oldestTs: number | null; events: number }> {
    const { rows } = await this.db.query<{ oldest: string | number | null; events: string | number }>(BACKLOG, [reaction, lookbackMs]);
    const row = rows[0];
    return { oldestTs: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest), events: Number(row?.events ?? 0) };
  }
}

function keyOf(claim: ReactionClaim): [string, string, string, string] {
  return [claim.reaction, claim.key.tenant, claim.key.conversationId, claim.token];
}
