import type { ConversationEvent } from '@parley/protocol';
import type {
  ClaimedWebhookDelivery,
  NewWebhookDelivery,
  NewWebhookEndpoint,
  WebhookAttemptResult,
  WebhookClaim,
  WebhookDelivery,
  WebhookDeliveryQuery,
  WebhookEndpoint,
  WebhookEndpointPatch,
  WebhookStore,
} from '../../core/ports.js';
import type { SqlDatabase, SqlExecutor } from './sql.js';

type Numeric = string | number;

interface EndpointRow {
  id: string;
  tenant: string;
  url: string;
  types: string[];
  description: string;
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: Numeric | null;
  created_at: Numeric;
  updated_at: Numeric;
}

interface DeliveryRow {
  id: string;
  tenant: string;
  endpoint: string;
  event_id: string;
  event_type: string;
  conversation: string;
  seq: Numeric;
  status: WebhookDelivery['status'];
  attempts: Numeric;
  next_attempt_at: Numeric | null;
  last_status_code: Numeric | null;
  last_response: string | null;
  last_error: string | null;
  created_at: Numeric;
  updated_at: Numeric;
  delivered_at: Numeric | null;
}

interface ClaimedRow extends DeliveryRow {
  window_start: Numeric;
  first_failed_at: Numeric | null;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: Numeric | null;
  event_ts: Numeric;
  actor_kind: ConversationEvent['actor']['kind'];
  actor_id: string;
  data: Record<string, unknown>;
  causation: ConversationEvent['causation'] | null;
}

const ENDPOINT_COLUMNS = 'id, tenant, url, types, description, enabled, disabled_reason, failing_since, created_at, updated_at';
const DELIVERY_COLUMNS =
  'id, tenant, endpoint, event_id, event_type, conversation, seq, status, attempts, next_attempt_at, last_status_code, last_response, last_error, created_at, updated_at, delivered_at';

const orNull = (value: Numeric | null): number | null => (value === null ? null : Number(value));

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    tenant: row.tenant,
    url: row.url,
    types: row.types,
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    failingSince: orNull(row.failing_since),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    tenant: row.tenant,
    endpointId: row.endpoint,
    eventId: row.event_id,
    eventType: row.event_type,
    conversationId: row.conversation,
    seq: Number(row.seq),
    status: row.status,
    attempts: Number(row.attempts),
    nextAttemptAt: orNull(row.next_attempt_at),
    lastStatusCode: orNull(row.last_status_code),
    lastResponse: row.last_response,
    lastError: row.last_error,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    deliveredAt: orNull(row.delivered_at),
  };
}

function toClaimed(row: ClaimedRow, now: number): ClaimedWebhookDelivery {
  const event: ConversationEvent = {
    id: row.event_id,
    tenant: row.tenant,
    conversation: row.conversation,
    seq: Number(row.seq),
    type: row.event_type,
    ts: Number(row.event_ts),
    actor: { kind: row.actor_kind, id: row.actor_id },
    data: row.data,
  };
  if (row.causation) event.causation = row.causation;
  const previousValid = row.previous_secret !== null && Number(row.previous_secret_until) > now;
  return {
    delivery: toDelivery(row),
    url: row.url,
    secrets: previousValid ? [row.secret, row.previous_secret!] : [row.secret],
    event,
    windowStart: Number(row.window_start),
    firstFailedAt: orNull(row.first_failed_at),
  };
}

/**
 * Takes due deliveries, oldest due first. Only the head of a lane (the pending delivery with the lowest seq of an
 * (endpoint, conversation)) has a `next_attempt_at`, so an index on it finds them without looking at the queue
 * behind them; a leased one is in flight. At most `perEndpoint` per enabled endpoint, counting those the worker
 * has in flight (endpoints already at that bound, `$8`, are passed over in the scan, so that a slow endpoint's
 * backlog never hides others' due deliveries). `FOR UPDATE SKIP LOCKED` lets workers on several nodes claim at
 * once without waiting for each other; the lease conditions, checked again on the locked row, keep a delivery
 * that another worker has just taken.
 */
const CLAIM = `
WITH due AS (
  SELECT d.id, d.endpoint, d.next_attempt_at
  FROM parley_webhook_deliveries d
  JOIN parley_webhook_endpoints e ON e.id = d.endpoint AND e.enabled
  WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
    AND NOT (d.endpoint = ANY($8::text[]))
  ORDER BY d.next_attempt_at
  LIMIT $7 * 4
),
ranked AS (
  SELECT due.id, row_number() OVER (PARTITION BY due.endpoint ORDER BY due.next_attempt_at, due.id) + coalesce(busy.count, 0) AS place
  FROM due LEFT JOIN unnest($4::text[], $5::int[]) AS busy(endpoint, count) ON busy.endpoint = due.endpoint
),
chosen AS (
  SELECT d.id FROM parley_webhook_deliveries d
  WHERE d.id IN (SELECT id FROM ranked WHERE place <= $6)
    AND d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
  ORDER BY d.next_attempt_at
  LIMIT $7
  FOR UPDATE SKIP LOCKED
),
claimed AS (
  UPDATE parley_webhook_deliveries d
  SET lease_owner = $2, lease_until = $3, attempts = d.attempts + 1, updated_at = $1
  FROM chosen WHERE d.id = chosen.id
  RETURNING d.*
)
SELECT c.id, c.tenant, c.endpoint, c.event_id, c.event_type, c.conversation, c.seq, c.status, c.attempts, c.next_attempt_at,
       c.last_status_code, c.last_response, c.last_error, c.created_at, c.updated_at, c.delivered_at, c.window_start, c.first_failed_at,
       e.url, e.secret, e.previous_secret, e.previous_secret_until,
       ev.ts AS event_ts, ev.actor_kind, ev.actor_id, ev.data, ev.causation
FROM claimed c
JOIN parley_webhook_endpoints e ON e.id = c.endpoint
JOIN parley_events ev ON ev.tenant = c.tenant AND ev.conversation = c.conversation AND ev.seq = c.seq
ORDER BY c.next_attempt_at`;

/**
 * Makes the lowest pending seq of each lane `$1` (endpoints) x `$2` (conversation) due at `$3` unless it already
 * has a time; its retry window starts then (time spent waiting for its turn does not count).
 */
const PROMOTE_HEADS = `
WITH heads AS (
  SELECT DISTINCT ON (endpoint) id FROM parley_webhook_deliveries
  WHERE endpoint = ANY($1::text[]) AND conversation = $2 AND status = 'pending'
  ORDER BY endpoint, seq
)
UPDATE parley_webhook_deliveries SET next_attempt_at = $3, window_start = $3
WHERE id IN (SELECT id FROM heads) AND next_attempt_at IS NULL AND status = 'pending'`;

/**
 * Records an attempt (if the worker still holds its lease), in one statement with what follows from it: the
 * endpoint's failing run, cleared by a success (written only when set, so that busy endpoints do not contend for
 * their row) and begun by a failure unless one is under way (the last failure less than `$11` ms ago); and, for a
 * delivery that is done, its lane's next delivery made due. A retry keeps its turn unless an older event of the
 * conversation was redelivered meanwhile. An attempt whose endpoint was disabled while it was in flight (the
 * delivery was skipped) records its answer, but a failure leaves it skipped.
 */
const FINISH_ATTEMPT = `
WITH finished AS (
  UPDATE parley_webhook_deliveries d
  SET status = CASE WHEN $4 = 'delivered' OR d.status = 'pending' THEN $4 ELSE d.status END,
      lease_owner = NULL, lease_until = NULL, last_status_code = $6, last_response = $7,
      last_error = $8, updated_at = $9, delivered_at = CASE WHEN $4 = 'delivered' THEN $9 ELSE d.delivered_at END,
      first_failed_at = CASE WHEN $4 = 'delivered' THEN d.first_failed_at ELSE coalesce(d.first_failed_at, $9) END,
      next_attempt_at = CASE WHEN $4 = 'pending' AND d.status = 'pending' AND NOT EXISTS (
        SELECT 1 FROM parley_webhook_deliveries older
        WHERE older.endpoint = d.endpoint AND older.conversation = d.conversation AND older.status = 'pending' AND older.seq < d.seq
      ) THEN $5::bigint END
  WHERE d.id = $1 AND d.lease_owner = $2 AND d.attempts = $3 AND d.status IN ('pending', 'skipped')
  RETURNING d.endpoint
),
marked AS (
  UPDATE parley_webhook_endpoints
  SET failing_since = CASE WHEN $10 THEN NULL WHEN failing_since IS NULL OR last_failure_at < $9 - $11 THEN $9 ELSE failing_since END,
      last_failure_at = CASE WHEN $10 THEN last_failure_at ELSE $9 END
  WHERE id IN (SELECT endpoint FROM finished) AND (NOT $10 OR failing_since IS NOT NULL)
  RETURNING failing_since
),
promoted AS (
  UPDATE parley_webhook_deliveries SET next_attempt_at = $9, window_start = $9
  WHERE id = (
      SELECT id FROM parley_webhook_deliveries
      WHERE endpoint = $12 AND conversation = $13 AND status = 'pending' AND id <> $1 ORDER BY seq LIMIT 1
    )
    AND next_attempt_at IS NULL AND status = 'pending' AND $4 <> 'pending' AND EXISTS (SELECT 1 FROM finished)
  RETURNING id
)
SELECT (SELECT count(*) FROM finished) AS recorded, (SELECT failing_since FROM marked) AS failing_since, (SELECT count(*) FROM promoted) AS promoted`;

/** The WebhookStore over PostgreSQL or PGlite (the same SQL). */
export class PostgresWebhookStore implements WebhookStore {
  constructor(private readonly db: SqlDatabase) {}

  async createEndpoint(endpoint: NewWebhookEndpoint, limit: number): Promise<WebhookEndpoint | null> {
    const { rows } = await this.db.query<EndpointRow>(
      `INSERT INTO parley_webhook_endpoints (id, tenant, url, types, description, secret, created_at, updated_at)
       SELECT $1::text, $2::text, $3::text, $4::text[], $5::text, $6::text, $7::bigint, $7::bigint
       WHERE (SELECT count(*) FROM parley_webhook_endpoints WHERE tenant = $2) < $8::int
       RETURNING ${ENDPOINT_COLUMNS}`,
      [endpoint.id, endpoint.tenant, endpoint.url, endpoint.types, endpoint.description, endpoint.secret, endpoint.createdAt, limit],
    );
    return rows[0] ? toEndpoint(rows[0]) : null;
  }

  async listEndpoints(tenant: string): Promise<WebhookEndpoint[]> {
    const { rows } = await this.db.query<EndpointRow>(
      `SELECT ${ENDPOINT_COLUMNS} FROM parley_webhook_endpoints WHERE tenant = $1 ORDER BY created_at, id`,
      [tenant],
    );
    return rows.map(toEndpoint);
  }

  async getEndpoint(tenant: string, id: string): Promise<WebhookEndpoint | null> {
    const { rows } = await this.db.query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM parley_webhook_endpoints WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return rows[0] ? toEndpoint(rows[0]) : null;
  }

  updateEndpoint(tenant: string, id: string, patch: WebhookEndpointPatch, now: number): Promise<WebhookEndpoint | null> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<EndpointRow>(
        `UPDATE parley_webhook_endpoints
         SET url = coalesce($3, url), types = coalesce($4, types), description = coalesce($5, description),
             enabled = coalesce($6, enabled),
             disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason WHEN $6 THEN NULL ELSE 'disabled through the API' END,
             failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END,
             updated_at = $7
         WHERE tenant = $1 AND id = $2
         RETURNING ${ENDPOINT_COLUMNS}`,
        [tenant, id, patch.url ?? null, patch.types ?? null, patch.description ?? null, patch.enabled ?? null, now],
      );
      const row = rows[0];
      if (row && patch.enabled === false) await skipPending(tx, id, 'the endpoint was disabled through the API', now);
      return row ? toEndpoint(row) : null;
    });
  }

  async rotateSecret(tenant: string, id: string, secret: string, previousUntil: number, now: number): Promise<boolean> {
    const { rows } = await this.db.query(
      `UPDATE parley_webhook_endpoints SET previous_secret = secret, previous_secret_until = $4, secret = $3, updated_at = $5
       WHERE tenant = $1 AND id = $2 RETURNING id`,
      [tenant, id, secret, previousUntil, now],
    );
    return rows.length > 0;
  }

  async deleteEndpoint(tenant: string, id: string): Promise<boolean> {
    const { rows } = await this.db.query('DELETE FROM parley_webhook_endpoints WHERE tenant = $1 AND id = $2 RETURNING id', [tenant, id]);
    return rows.length > 0;
  }

  disableEndpoint(id: string, reason: string, now: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query('UPDATE parley_webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3 WHERE id = $1 AND enabled RETURNING id', [id, reason, now]);
      if (rows.length > 0) await skipPending(tx, id, reason, now);
      return rows.length > 0;
    });
  }

  /**
   * Inserts the deliveries waiting (no `next_attempt_at`), then makes each lane's head due, under the lanes'
   * locks: a delivery finishing at the same time promotes its lane's next one under the same lock, so a new
   * delivery can never be left waiting behind one that is gone.
   */
  async enqueue(tenant: string, conversationId: string, deliveries: NewWebhookDelivery[], now: number): Promise<number> {
    if (deliveries.length === 0) return 0;
    const endpoints = [...new Set(deliveries.map((delivery) => delivery.endpointId))].sort();
    return this.db.transaction(async (tx) => {
      for (const endpoint of endpoints) await lockLane(tx, endpoint, conversationId);
      const { rows } = await tx.query(
        `INSERT INTO parley_webhook_deliveries
           (id, tenant, endpoint, event_id, event_type, conversation, seq, status, attempts, next_attempt_at, window_start, created_at, updated_at)
         SELECT batch.id, $1, batch.endpoint, batch.event_id, batch.event_type, $2, batch.seq, 'pending', 0, NULL, $3, $3, $3
         FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[]) AS batch(id, endpoint, event_id, event_type, seq)
         JOIN parley_webhook_endpoints e ON e.id = batch.endpoint AND e.tenant = $1 AND e.enabled
         ORDER BY batch.seq
         ON CONFLICT (endpoint, event_id) DO NOTHING
         RETURNING id`,
        [
          tenant,
          conversationId,
          now,
          deliveries.map((delivery) => delivery.id),
          deliveries.map((delivery) => delivery.endpointId),
          deliveries.map((delivery) => delivery.event.id),
          deliveries.map((delivery) => delivery.event.type),
          deliveries.map((delivery) => delivery.event.seq),
        ],
      );
      if (rows.length > 0) await tx.query(PROMOTE_HEADS, [endpoints, conversationId, now]);
      return rows.length;
    });
  }

  async claim(claim: WebhookClaim): Promise<ClaimedWebhookDelivery[]> {
    const busy = [...claim.busy];
    const saturated = busy.filter(([, count]) => count >= claim.perEndpoint).map(([endpoint]) => endpoint);
    const { rows } = await this.db.query<ClaimedRow>(CLAIM, [
      claim.now,
      claim.owner,
      claim.leaseUntil,
      busy.map(([endpoint]) => endpoint),
      busy.map(([, count]) => count),
      claim.perEndpoint,
      claim.limit,
      saturated,
    ]);
    return rows.map((row) => toClaimed(row, claim.now));
  }

  /**
   * Records the attempt. A delivery that is done makes its lane's next one due, under the lane's lock (an
   * enqueue at the same moment must see either this delivery pending or the next one due); a retry changes no
   * turn and takes no lock.
   */
  async finishAttempt(result: WebhookAttemptResult): Promise<{ recorded: boolean; failingSince: number | null }> {
    const parameters = [
      result.deliveryId,
      result.owner,
      result.attempt,
      result.next.status,
      result.next.status === 'pending' ? result.next.at : null,
      result.statusCode,
      result.response,
      result.error,
      result.now,
      result.next.status === 'delivered',
      result.runGapMs,
      result.endpointId,
      result.conversationId,
    ];
    const finish = async (executor: SqlExecutor) => {
      const { rows } = await executor.query<{ recorded: Numeric; failing_since: Numeric | null }>(FINISH_ATTEMPT, parameters);
      return { recorded: Number(rows[0]!.recorded) > 0, failingSince: orNull(rows[0]!.failing_since) };
    };
    if (result.next.status === 'pending') return finish(this.db);
    return this.db.transaction(async (tx) => {
      await lockLane(tx, result.endpointId, result.conversationId);
      return finish(tx);
    });
  }

  async getDelivery(tenant: string, id: string): Promise<WebhookDelivery | null> {
    const { rows } = await this.db.query<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM parley_webhook_deliveries WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return rows[0] ? toDelivery(rows[0]) : null;
  }

  async listDeliveries(tenant: string, endpointId: string, query: WebhookDeliveryQuery): Promise<WebhookDelivery[]> {
    const { rows } = await this.db.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM parley_webhook_deliveries
       WHERE tenant = $1 AND endpoint = $2 AND ($3::text IS NULL OR status = $3)
         AND ($4::bigint IS NULL OR (created_at, seq, id) < ($4, $5::bigint, $6::text))
       ORDER BY created_at DESC, seq DESC, id DESC LIMIT $7`,
      [tenant, endpointId, query.status ?? null, query.before?.createdAt ?? null, query.before?.seq ?? 0, query.before?.id ?? '', query.limit],
    );
    return rows.map(toDelivery);
  }

  /**
   * Under the lane's lock: the delivery becomes pending with a new window, and the lane is settled again, so
   * that only its lowest pending seq is due (a redelivered older event goes first; a newer one waits its turn).
   */
  async redeliver(tenant: string, id: string, now: number): Promise<WebhookDelivery | null> {
    const existing = await this.getDelivery(tenant, id);
    if (!existing) return null;
    return this.db.transaction(async (tx) => {
      await lockLane(tx, existing.endpointId, existing.conversationId);
      const { rows } = await tx.query(
        `UPDATE parley_webhook_deliveries
         SET status = 'pending', attempts = 0, next_attempt_at = NULL, window_start = $3, first_failed_at = NULL, lease_owner = NULL, lease_until = NULL, updated_at = $3
         WHERE tenant = $1 AND id = $2 AND NOT (status = 'pending' AND lease_until > $3)
         RETURNING id`,
        [tenant, id, now],
      );
      if (rows.length > 0) await settleLane(tx, existing.endpointId, existing.conversationId, now);
      const { rows: current } = await tx.query<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM parley_webhook_deliveries WHERE id = $1`, [id]);
      return current[0] ? toDelivery(current[0]) : null;
    });
  }

  async pendingStats(): Promise<{ pending: number; oldestCreatedAt: number | null }> {
    const { rows } = await this.db.query<{ pending: Numeric; oldest: Numeric | null }>(
      "SELECT count(*) AS pending, min(created_at) AS oldest FROM parley_webhook_deliveries WHERE status = 'pending'",
    );
    return { pending: Number(rows[0]!.pending), oldestCreatedAt: orNull(rows[0]!.oldest) };
  }

  async pruneDeliveries(before: number, limit: number): Promise<number> {
    const { rows } = await this.db.query(
      `DELETE FROM parley_webhook_deliveries WHERE id IN (
         SELECT id FROM parley_webhook_deliveries WHERE status <> 'pending' AND updated_at < $1 LIMIT $2
       ) RETURNING id`,
      [before, limit],
    );
    return rows.length;
  }
}

/**
 * Serializes the changes to one lane (an endpoint's deliveries of one conversation) for the rest of the
 * transaction: enqueueing, finishing and redelivering each leave exactly its lowest pending seq due.
 */
async function lockLane(executor: SqlExecutor, endpointId: string, conversationId: string): Promise<void> {
  await executor.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`webhook-lane/${endpointId}/${conversationId}`]);
}

/** Leaves only the lane's lowest pending seq due (and due now if it had no time); deliveries in flight keep theirs. */
async function settleLane(executor: SqlExecutor, endpointId: string, conversationId: string, now: number): Promise<void> {
  await executor.query(
    `WITH head AS (
       SELECT id FROM parley_webhook_deliveries WHERE endpoint = $1 AND conversation = $2 AND status = 'pending' ORDER BY seq LIMIT 1
     )
     UPDATE parley_webhook_deliveries d
     SET next_attempt_at = CASE WHEN d.id IN (SELECT id FROM head) THEN coalesce(d.next_attempt_at, $3) END,
         window_start = CASE WHEN d.id IN (SELECT id FROM head) AND d.next_attempt_at IS NULL THEN $3 ELSE d.window_start END
     WHERE d.endpoint = $1 AND d.conversation = $2 AND d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $3)`,
    [endpointId, conversationId, now],
  );
}

/**
 * Marks an endpoint's pending deliveries `skipped`. One in flight keeps its lease: its attempt, when it ends, is
 * recorded (a delivered one becomes `delivered`; a failed one stays skipped, never pending again).
 */
async function skipPending(executor: SqlExecutor, endpointId: string, reason: string, now: number): Promise<void> {
  await executor.query(
    `UPDATE parley_webhook_deliveries SET status = 'skipped', next_attempt_at = NULL, last_error = $2, updated_at = $3
     WHERE endpoint = $1 AND status = 'pending'`,
    [endpointId, reason, now],
  );
}
