import type { ConversationEvent } from '@parley/protocol';

/** A tenant's webhook endpoint, without its secret (which is shown once, when created or rotated). */
export interface WebhookEndpoint {
  id: string;
  tenant: string;
  url: string;
  /** Event types it receives: exact types, `prefix.*` (every type starting with `prefix.`), or `*`. */
  types: string[];
  description: string;
  enabled: boolean;
  /** Why it is disabled (by the API, or after failing for the whole retry window); null while enabled. */
  disabledReason: string | null;
  /** When its current run of failed attempts began (no success since, no long pause between failures); null once an attempt succeeds. */
  failingSince: number | null;
  createdAt: number;
  updatedAt: number;
}

/** A new endpoint as stored: its fields and its signing secret (`whsec_` + base64 key). */
export interface NewWebhookEndpoint {
  id: string;
  tenant: string;
  url: string;
  types: string[];
  description: string;
  secret: string;
  createdAt: number;
}

/** What `updateEndpoint` may change; absent fields stay. Disabling skips the endpoint's pending deliveries. */
export interface WebhookEndpointPatch {
  url?: string;
  types?: string[];
  description?: string;
  enabled?: boolean;
}

/** Where a delivery stands: `pending` until it is `delivered`, `failed` (retries used up) or `skipped` (its endpoint was disabled). */
export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed' | 'skipped';

/** One event's delivery to one endpoint, as the delivery log shows it. */
export interface WebhookDelivery {
  id: string;
  tenant: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  conversationId: string;
  seq: number;
  status: WebhookDeliveryStatus;
  /** Attempts since it was enqueued or last redelivered. */
  attempts: number;
  /** When the next attempt is due; null unless pending and next in its conversation (a later seq waits without one). */
  nextAttemptAt: number | null;
  lastStatusCode: number | null;
  /** The start of the last answer's body (truncated). */
  lastResponse: string | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
}

/** An event to deliver to an endpoint; the store gives the delivery its place in the log. */
export interface NewWebhookDelivery {
  id: string;
  endpointId: string;
  event: Pick<ConversationEvent, 'id' | 'type' | 'seq'>;
}

/** A delivery leased to one worker for one attempt, with what it needs to send it. */
export interface ClaimedWebhookDelivery {
  delivery: WebhookDelivery;
  url: string;
  /** The current signing secret, and the previous one while a rotation's overlap lasts. */
  secrets: string[];
  event: ConversationEvent;
  /** Retries run until `windowStart` plus the retry window: when its turn came (after the conversation's previous delivery), or it was redelivered. */
  windowStart: number;
  /** When its first failed attempt (since enqueued or redelivered) ended; null if none failed yet. */
  firstFailedAt: number | null;
}

/** How a worker asks for due deliveries. */
export interface WebhookClaim {
  owner: string;
  now: number;
  /** The lease lasts until then; past it another worker may take the delivery (its worker is presumed dead). */
  leaseUntil: number;
  limit: number;
  /** At most this many deliveries in flight per endpoint, counting `busy`. */
  perEndpoint: number;
  /** The claiming worker's deliveries in flight, by endpoint id. */
  busy: ReadonlyMap<string, number>;
}

/** The result of one attempt, recorded by the worker that holds the lease. */
export interface WebhookAttemptResult {
  deliveryId: string;
  endpointId: string;
  conversationId: string;
  owner: string;
  /** The delivery's attempt count when claimed: fences off a worker whose lease was taken over. */
  attempt: number;
  now: number;
  next: { status: 'delivered' } | { status: 'failed' } | { status: 'pending'; at: number };
  statusCode: number | null;
  response: string | null;
  error: string | null;
  /** A failure this long after the endpoint's previous one begins a new failing run (attempts had stopped meanwhile). */
  runGapMs: number;
}

/** A page of the delivery log, newest first (by enqueue time, then seq). */
export interface WebhookDeliveryQuery {
  status?: WebhookDeliveryStatus;
  /** Deliveries after this one in that order (the last of the previous page). */
  before?: { createdAt: number; seq: number; id: string };
  limit: number;
}

/**
 * Webhook endpoints and their deliveries. `enqueue` is idempotent per (endpoint, event). `claim` hands each
 * due delivery to one worker at a time (a lease), and of each (endpoint, conversation) only the pending
 * delivery with the lowest seq, so deliveries of a conversation go out in order, one at a time. Every
 * method that takes a tenant reads and writes that tenant's rows only.
 */
export interface WebhookStore {
  /** Stores a new endpoint unless its tenant has `limit` already (then null). */
  createEndpoint(endpoint: NewWebhookEndpoint, limit: number): Promise<WebhookEndpoint | null>;
  listEndpoints(tenant: string): Promise<WebhookEndpoint[]>;
  getEndpoint(tenant: string, id: string): Promise<WebhookEndpoint | null>;
  /** Enabling clears the disabled reason and the failing run; disabling skips the pending deliveries (see `disableEndpoint`). */
  updateEndpoint(tenant: string, id: string, patch: WebhookEndpointPatch, now: number): Promise<WebhookEndpoint | null>;
  /** Replaces the secret; the old one still signs (as a second signature) until `previousUntil`. */
  rotateSecret(tenant: string, id: string, secret: string, previousUntil: number, now: number): Promise<boolean>;
  /** Deletes the endpoint and its delivery log. */
  deleteEndpoint(tenant: string, id: string): Promise<boolean>;
  /**
   * Disables the endpoint with `reason` and skips its pending deliveries; one in flight is recorded when its
   * attempt ends, as delivered or else skipped. False if it was disabled already.
   */
  disableEndpoint(id: string, reason: string, now: number): Promise<boolean>;
  /** Inserts pending deliveries of one conversation's events to enabled endpoints; repeats change nothing. Returns how many are new. */
  enqueue(tenant: string, conversationId: string, deliveries: NewWebhookDelivery[], now: number): Promise<number>;
  claim(claim: WebhookClaim): Promise<ClaimedWebhookDelivery[]>;
  /**
   * Records an attempt if `owner` still holds the lease of that attempt, and the endpoint's failing run
   * (cleared by a success, started by a failure). Returns whether it was recorded and when the run began.
   */
  finishAttempt(result: WebhookAttemptResult): Promise<{ recorded: boolean; failingSince: number | null }>;
  getDelivery(tenant: string, id: string): Promise<WebhookDelivery | null>;
  listDeliveries(tenant: string, endpointId: string, query: WebhookDeliveryQuery): Promise<WebhookDelivery[]>;
  /** Makes a delivery pending and due now, with a new retry window; null if absent, unchanged if in flight. */
  redeliver(tenant: string, id: string, now: number): Promise<WebhookDelivery | null>;
  /** Pending deliveries of every tenant and when the oldest was enqueued (for metrics). */
  pendingStats(): Promise<{ pending: number; oldestCreatedAt: number | null }>;
  /** Deletes up to `limit` finished deliveries last updated before `before`; returns how many. */
  pruneDeliveries(before: number, limit: number): Promise<number>;
}
