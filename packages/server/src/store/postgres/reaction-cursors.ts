import { randomUUID } from 'node:crypto';
import type { ConversationEvent } from '@parley/protocol';
import type { ClaimRequest, ReactionClaim, ReactionCursors } from '../../core/ports.js';
import { conversationKeyString as nameOf, type ConversationKey } from '../../core/types.js';
import { DATABASE_NOW_MS, type SqlDatabase } from './sql.js';
import { EVENT_COLUMNS, toEvent, type EventRow } from './event-rows.js';

interface ClaimRow extends Partial<EventRow> {
  held_tenant: string;
  held_conversation: string;
  cursor: string | number;
  attempts: number;
  claimed: boolean;
}

const NOW = `now AS (SELECT ${DATABASE_NOW_MS} AS ms)`;
// $2 tenants, $3 conversations, $4 tokens, $7 and $8 the seqs of the events the node has at hand (from, through).
const WANTED = `wanted AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $7::bigint[], $8::bigint[]) AS w(tenant, conversation, token, known_from, known_through)
)`;
// The events after each cursor held ($6 a page), but those the node has at hand.
const EVENTS_AFTER_HELD = `SELECT held.tenant AS held_tenant, held.conversation AS held_conversation, held.cursor, held.attempts, held.claimed,
    ${EVENT_COLUMNS.split(', ').map((column) => `e.${column}`).join(', ')}
  FROM held JOIN wanted w ON w.tenant = held.tenant AND w.conversation = held.conversation
  LEFT JOIN LATERAL (
    SELECT ${EVENT_COLUMNS} FROM parley_events
    WHERE tenant = held.tenant AND conversation = held.conversation AND seq > held.cursor AND held.claimed
      AND NOT (seq BETWEEN w.known_from AND w.known_through)
    ORDER BY seq LIMIT $6
  ) e ON true
  ORDER BY held.tenant, held.conversation, e.seq`;
// Where a reaction's new cursor starts: at 0 in a conversation created after the reaction was registered,
// else after the last event appended before it (an upgrade must not act on old conversations' history).
const START_SEQ = `CASE WHEN c.created_at >= p.registered_at THEN 0 ELSE COALESCE((
    SELECT s.seq FROM parley_events s WHERE s.tenant = c.tenant AND s.conversation = c.id AND s.ts < p.registered_at
    ORDER BY s.seq DESC LIMIT 1), 0) END`;
// A cursor this holder may take: its own, or one nobody holds (or whose lease ran out) and that waits for no retry.
const CLAIMABLE = '(r.lease_token = w.token OR ((r.lease_token IS NULL OR r.lease_until <= now.ms) AND r.due_at <= now.ms))';
// $1 reaction, $5 lease ms, $6 page size. Rows are locked in key order, and rows another statement is
// writing are skipped (never waited for): claims of several nodes cannot deadlock, and a skipped one is
// asked for again. A cursor held elsewhere is marked so that its holder looks again before letting go.
// due_at is left as it is (a mark stays until the cursor settles), so the update stays HOT.
const CLAIM_EXISTING = `WITH ${NOW}, ${WANTED}, locked AS (
  SELECT r.tenant, r.conversation, w.token, ${CLAIMABLE} AS claimable
  FROM parley_reaction_cursors r JOIN wanted w ON r.tenant = w.tenant AND r.conversation = w.conversation CROSS JOIN now
  WHERE r.reaction = $1
  ORDER BY r.tenant, r.conversation
  FOR UPDATE OF r SKIP LOCKED
), held AS (
  UPDATE parley_reaction_cursors r SET
    lease_token = CASE WHEN l.claimable THEN l.token ELSE r.lease_token END,
    lease_until = CASE WHEN l.claimable THEN now.ms + $5 ELSE r.lease_until END,
    wake_pending = NOT l.claimable
  FROM locked l, now
  WHERE r.reaction = $1 AND r.tenant = l.tenant AND r.conversation = l.conversation
  RETURNING r.tenant, r.conversation, r.seq AS cursor, r.attempts, l.claimable AS claimed
) ${EVENTS_AFTER_HELD}`;
// First visits: the cursors are made, in key order (concurrent inserts of one key wait for each other).
const CLAIM_NEW = `WITH ${NOW}, ${WANTED}, held AS (
  INSERT INTO parley_reaction_cursors (reaction, tenant, conversation, seq, lease_token, lease_until)
  SELECT $1, c.tenant, c.id, ${START_SEQ}, w.token, now.ms + $5
  FROM wanted w JOIN parley_conversations c ON c.tenant = w.tenant AND c.id = w.conversation CROSS JOIN parley_reactions p CROSS JOIN now
  WHERE p.name = $1
  ORDER BY c.tenant, c.id
  ON CONFLICT DO NOTHING
  RETURNING tenant, conversation, seq AS cursor, attempts, true AS claimed
) ${EVENTS_AFTER_HELD}`;
const KEY_AND_TOKEN = 'r.reaction = $1 AND r.tenant = $2 AND r.conversation = $3 AND r.lease_token = $4';
// One conversation (the common case at low load, and the one an answer's first token waits for): the same
// claim as CLAIM_EXISTING in a plain UPDATE, several times cheaper to plan (a single row lock: no deadlock).
const CLAIMABLE_ONE = '(r.lease_token = $4 OR ((r.lease_token IS NULL OR r.lease_until <= now.ms) AND r.due_at <= now.ms))';
const CLAIM_ONE = `UPDATE parley_reaction_cursors r SET
    lease_token = CASE WHEN ${CLAIMABLE_ONE} THEN $4 ELSE r.lease_token END,
    lease_until = CASE WHEN ${CLAIMABLE_ONE} THEN now.ms + $5 ELSE r.lease_until END,
    wake_pending = NOT COALESCE(${CLAIMABLE_ONE}, false)
  FROM (SELECT ${DATABASE_NOW_MS} AS ms) now
  WHERE r.reaction = $1 AND r.tenant = $2 AND r.conversation = $3
  RETURNING r.seq AS cursor, r.attempts, r.lease_token = $4 AS claimed`;
const EVENTS_AFTER = `SELECT ${EVENT_COLUMNS} FROM parley_events WHERE tenant = $1 AND conversation = $2 AND seq > $3 ORDER BY seq LIMIT $4`;
// $2 tenants, $3 conversations, $4 tokens, $5 seqs handled through, $6 lease ms, $7 keep, $8 recent ms.
// More may have come while the events were handled: a node woken for the conversation could not claim it
// (and said so in wake_pending), or the conversation is ahead. Then the hold is kept; should this node die
// before the next page, the sweep finds a conversation changed within $8 when the lease runs out, and an
// older one is marked due for then (a catch-up of old events). When the node stops, it lets go and the
// cursor is due at once. Rows are locked in key order, as claims lock them.
const SETTLE = `WITH ${NOW}, done AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS d(tenant, conversation, token, seq)
), locked AS (
  SELECT r.tenant, r.conversation, GREATEST(r.seq, d.seq) AS seq, (r.wake_pending OR c.last_seq > GREATEST(r.seq, d.seq)) AS more,
    c.last_event_at
  FROM parley_reaction_cursors r
  JOIN done d ON r.tenant = d.tenant AND r.conversation = d.conversation AND r.lease_token = d.token
  JOIN parley_conversations c ON c.tenant = r.tenant AND c.id = r.conversation
  WHERE r.reaction = $1
  ORDER BY r.tenant, r.conversation
  FOR UPDATE OF r
)
UPDATE parley_reaction_cursors r SET
  seq = l.seq, attempts = 0, last_error = NULL, wake_pending = false,
  lease_token = CASE WHEN l.more AND $7 THEN r.lease_token END,
  lease_until = CASE WHEN l.more AND $7 THEN now.ms + $6 ELSE 0 END,
  due_at = CASE WHEN l.more AND $7 AND l.last_event_at >= now.ms - $8 THEN r.due_at WHEN l.more AND $7 THEN now.ms + $6 WHEN l.more THEN now.ms ELSE 0 END
FROM locked l, now
WHERE r.reaction = $1 AND r.tenant = l.tenant AND r.conversation = l.conversation
RETURNING r.tenant, r.conversation, r.lease_token IS NOT NULL AS more`;
// SETTLE for one conversation, in a plain UPDATE ($5 seq handled through, $6 lease ms, $7 keep, $8 recent ms).
const MORE_ONE = '(r.wake_pending OR c.last_seq > GREATEST(r.seq, $5))';
const SETTLE_ONE = `UPDATE parley_reaction_cursors r SET
    seq = GREATEST(r.seq, $5), attempts = 0, last_error = NULL, wake_pending = false,
    lease_token = CASE WHEN ${MORE_ONE} AND $7 THEN r.lease_token END,
    lease_until = CASE WHEN ${MORE_ONE} AND $7 THEN now.ms + $6 ELSE 0 END,
    due_at = CASE WHEN ${MORE_ONE} AND $7 AND c.last_event_at >= now.ms - $8 THEN r.due_at WHEN ${MORE_ONE} AND $7 THEN now.ms + $6
      WHEN ${MORE_ONE} THEN now.ms ELSE 0 END
  FROM parley_conversations c, (SELECT ${DATABASE_NOW_MS} AS ms) now
  WHERE ${KEY_AND_TOKEN} AND c.tenant = r.tenant AND c.id = r.conversation
  RETURNING r.tenant, r.conversation, r.lease_token IS NOT NULL AS more`;
const FAIL = `WITH ${NOW}
  UPDATE parley_reaction_cursors r SET lease_token = NULL, lease_until = 0, wake_pending = false, attempts = r.attempts + 1,
    last_error = left($5, 1000), due_at = now.ms + $6
  FROM now WHERE ${KEY_AND_TOKEN}`;
// A hold renewed (a long `handle`) is also due when it would run out: if its node dies, any node finds it.
const RENEW = `WITH ${NOW} UPDATE parley_reaction_cursors r SET lease_until = now.ms + $5, due_at = now.ms + $5 FROM now WHERE ${KEY_AND_TOKEN} RETURNING 1`;
const TAKE_SWEEP = `WITH ${NOW}
  UPDATE parley_reactions p SET sweep_until = now.ms + $2 FROM now WHERE p.name = $1 AND p.sweep_until <= now.ms
  RETURNING p.swept_at, now.ms AS started`;
// Each tenant, found by skipping through the (tenant, last_event_at) index: one probe per tenant.
const TENANTS = `tenants AS (
  (SELECT tenant FROM parley_conversations ORDER BY tenant LIMIT 1)
  UNION ALL
  SELECT (SELECT c.tenant FROM parley_conversations c WHERE c.tenant > t.tenant ORDER BY c.tenant LIMIT 1) FROM tenants t WHERE t.tenant IS NOT NULL
)`;
// Conversations of every tenant changed since $2 (oldest change first, at most $3 per tenant).
const CHANGED_SINCE = (filter: string) => `SELECT c.* FROM tenants t CROSS JOIN now CROSS JOIN LATERAL (
    SELECT c.tenant, c.id, c.created_at, c.last_seq, c.last_event_at FROM parley_conversations c
    WHERE c.tenant = t.tenant AND c.last_event_at >= $2 AND ${filter}
    ORDER BY c.last_event_at LIMIT $3
  ) c`;
// Conversations changed since `$2` whose cursor is behind (or missing), not held and not due already, get
// due now; a missing cursor is made where the reaction starts (due only if that leaves events to handle).
const MARK_DUE = `WITH RECURSIVE ${NOW}, ${TENANTS}, candidates AS (
  ${CHANGED_SINCE(`NOT EXISTS (
      SELECT 1 FROM parley_reaction_cursors r WHERE r.reaction = $1 AND r.tenant = c.tenant AND r.conversation = c.id
        AND (r.seq >= c.last_seq OR r.due_at > 0 OR (r.lease_token IS NOT NULL AND r.lease_until > now.ms)))`)}
  ORDER BY c.last_event_at LIMIT $3
), marked AS (
  INSERT INTO parley_reaction_cursors AS r (reaction, tenant, conversation, seq, due_at)
  SELECT $1, c.tenant, c.id, start.seq, CASE WHEN start.seq < c.last_seq THEN now.ms ELSE 0 END
  FROM candidates c CROSS JOIN parley_reactions p CROSS JOIN now CROSS JOIN LATERAL (SELECT ${START_SEQ} AS seq) start
  WHERE p.name = $1
  ORDER BY c.tenant, c.id
  ON CONFLICT (reaction, tenant, conversation) DO UPDATE SET due_at = EXCLUDED.due_at WHERE r.due_at = 0
  RETURNING 1
)
SELECT count(*) AS found, max(last_event_at) AS reached FROM candidates`;
const DUE = `SELECT tenant, conversation FROM parley_reaction_cursors
  WHERE reaction = $1 AND due_at > 0 AND due_at <= ${DATABASE_NOW_MS} AND (lease_token IS NULL OR lease_until <= ${DATABASE_NOW_MS})
  ORDER BY due_at LIMIT $2`;
// Recently changed conversations whose cursor is behind (a missing cursor counts one event, from the
// conversation's last change), plus older ones that are due (failing, or held by a node that died).
const BACKLOG = `WITH RECURSIVE ${NOW}, ${TENANTS}, recent AS (
  ${CHANGED_SINCE('true')}
), behind AS (
  SELECT c.last_seq - COALESCE(r.seq, c.last_seq - 1) AS events, COALESCE(e.ts, c.last_event_at) AS oldest
  FROM recent c
  LEFT JOIN parley_reaction_cursors r ON r.reaction = $1 AND r.tenant = c.tenant AND r.conversation = c.id
  LEFT JOIN parley_events e ON e.tenant = c.tenant AND e.conversation = c.id AND e.seq = r.seq + 1
  WHERE r.seq IS NULL OR r.seq < c.last_seq
  UNION ALL
  SELECT c.last_seq - r.seq, COALESCE(e.ts, c.last_event_at)
  FROM parley_reaction_cursors r
  JOIN parley_conversations c ON c.tenant = r.tenant AND c.id = r.conversation
  LEFT JOIN parley_events e ON e.tenant = r.tenant AND e.conversation = r.conversation AND e.seq = r.seq + 1
  WHERE r.reaction = $1 AND r.due_at > 0 AND c.last_event_at < $2 AND r.seq < c.last_seq
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

  async claim(reaction: string, requests: ClaimRequest[], options: { leaseMs: number; limit: number }): Promise<{ claims: ReactionClaim[]; busy: ConversationKey[] }> {
    const tokens = new Map(requests.map((request) => [nameOf(request.key), request.token ?? randomUUID()]));
    const known = new Map(requests.map((request) => [nameOf(request.key), request.known ?? []]));
    const run = async (sql: string, keys: ConversationKey[]) => {
      const ranges = keys.map((key) => known.get(nameOf(key))!);
      const parameters = [
        reaction,
        keys.map((key) => key.tenant),
        keys.map((key) => key.conversationId),
        keys.map((key) => tokens.get(nameOf(key))!),
        options.leaseMs,
        options.limit,
        // An empty range (1 through 0) when nothing is at hand.
        ranges.map((events) => events[0]?.seq ?? 1),
        ranges.map((events) => events.at(-1)?.seq ?? 0),
      ];
      return (await this.db.query<ClaimRow>(sql, parameters)).rows;
    };
    if (requests.length === 1) {
      const [request] = requests as [ClaimRequest];
      const one = await this.claimOne(reaction, request, tokens.get(nameOf(request.key))!, options);
      if (one !== 'missing') return { claims: one ? [one] : [], busy: [] };
    }
    const keys = requests.map((request) => request.key);
    const existing = requests.length === 1 ? [] : await run(CLAIM_EXISTING, keys);
    const answered = new Set(existing.map((row) => nameOf({ tenant: row.held_tenant, conversationId: row.held_conversation })));
    // Not answered: no cursor yet (a first visit), or skipped because another statement writes it now.
    const rest = requests.filter((request) => request.token === undefined && !answered.has(nameOf(request.key))).map((request) => request.key);
    const created = rest.length > 0 ? await run(CLAIM_NEW, rest) : [];
    for (const row of created) answered.add(nameOf({ tenant: row.held_tenant, conversationId: row.held_conversation }));
    const busy = keys.filter((key) => !answered.has(nameOf(key)));
    const claims = toClaims(reaction, [...existing, ...created], tokens).map((claim) => withKnown(claim, known.get(nameOf(claim.key))!, options.limit));
    return { claims, busy };
  }

  /** A claim of one conversation in plain statements; the events are read only if those at hand do not follow the cursor. */
  private async claimOne(reaction: string, request: ClaimRequest, token: string, options: { leaseMs: number; limit: number }): Promise<ReactionClaim | null | 'missing'> {
    const { key, known = [] } = request;
    const { rows } = await this.db.query<ClaimRow>(CLAIM_ONE, [reaction, key.tenant, key.conversationId, token, options.leaseMs]);
    const row = rows[0];
    if (!row) return request.token === undefined ? 'missing' : null;
    if (!row.claimed) return null;
    const claim = { reaction, key, token, seq: Number(row.cursor), attempts: Number(row.attempts), events: [] as ConversationEvent[] };
    const atHand = known.filter((event) => event.seq > claim.seq);
    if (atHand[0]?.seq !== claim.seq + 1) {
      const read = await this.db.query<EventRow>(EVENTS_AFTER, [key.tenant, key.conversationId, claim.seq, options.limit]);
      claim.events = read.rows.map(toEvent);
    }
    return withKnown(claim, atHand, options.limit);
  }

  async renew(claim: ReactionClaim, leaseMs: number): Promise<boolean> {
    const { rows } = await this.db.query(RENEW, [...keyOf(claim), leaseMs]);
    return rows.length > 0;
  }

  async settle(settlements: Array<{ claim: ReactionClaim; seq: number }>, options: { leaseMs: number; keep: boolean; recentMs: number }): Promise<Array<'released' | 'more' | 'lost'>> {
    if (settlements.length === 0) return [];
    if (settlements.length === 1) {
      const [{ claim, seq }] = settlements as [{ claim: ReactionClaim; seq: number }];
      const { rows } = await this.db.query<{ more: boolean }>(SETTLE_ONE, [...keyOf(claim), seq, options.leaseMs, options.keep, options.recentMs]);
      return [rows.length === 0 ? 'lost' : rows[0]!.more ? 'more' : 'released'];
    }
    const { rows } = await this.db.query<{ tenant: string; conversation: string; more: boolean }>(SETTLE, [
      settlements[0]!.claim.reaction,
      settlements.map(({ claim }) => claim.key.tenant),
      settlements.map(({ claim }) => claim.key.conversationId),
      settlements.map(({ claim }) => claim.token),
      settlements.map(({ seq }) => seq),
      options.leaseMs,
      options.keep,
      options.recentMs,
    ]);
    const outcomes = new Map(rows.map((row) => [nameOf({ tenant: row.tenant, conversationId: row.conversation }), row.more ? ('more' as const) : ('released' as const)]));
    return settlements.map(({ claim }) => outcomes.get(nameOf(claim.key)) ?? 'lost');
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
    // No page limit here: every recently changed conversation counts.
    const { rows } = await this.db.query<{ oldest: string | number | null; events: string | number }>(BACKLOG, [reaction, Date.now() - lookbackMs, null]);
    const row = rows[0];
    return { oldestTs: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest), events: Number(row?.events ?? 0) };
  }
}

function keyOf(claim: ReactionClaim): [string, string, string, string] {
  return [claim.reaction, claim.key.tenant, claim.key.conversationId, claim.token];
}

/** The claim's events read from the store and those at hand, as one contiguous page after its cursor. */
function withKnown(claim: ReactionClaim, known: readonly ConversationEvent[], limit: number): ReactionClaim {
  if (known.length === 0) return claim;
  const bySeq = new Map([...claim.events, ...known].filter((event) => event.seq > claim.seq).map((event) => [event.seq, event]));
  const events: ConversationEvent[] = [];
  for (let seq = claim.seq + 1; events.length < limit && bySeq.has(seq); seq++) events.push(bySeq.get(seq)!);
  return { ...claim, events };
}

/** The claimed conversations of the rows (one per event, or one without an event), with their events in order. */
function toClaims(reaction: string, rows: ClaimRow[], tokens: Map<string, string>): ReactionClaim[] {
  const claims = new Map<string, ReactionClaim & { events: ConversationEvent[] }>();
  for (const row of rows) {
    if (!row.claimed) continue;
    const key = { tenant: row.held_tenant, conversationId: row.held_conversation };
    const name = nameOf(key);
    let claim = claims.get(name);
    if (!claim) {
      claim = { reaction, key, token: tokens.get(name)!, seq: Number(row.cursor), attempts: Number(row.attempts), events: [] };
      claims.set(name, claim);
    }
    if (row.id !== null && row.id !== undefined) claim.events.push(toEvent(row as EventRow));
  }
  return [...claims.values()];
}
