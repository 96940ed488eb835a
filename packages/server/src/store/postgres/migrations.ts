/** Schema migrations, applied in order once each. Never edit a released one: add the next. */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'conversation log',
    sql: `
CREATE TABLE parley_conversations (
  tenant      text   NOT NULL,
  id          text   NOT NULL,
  created_by  text   NOT NULL,
  created_at  bigint NOT NULL,
  metadata    jsonb  NOT NULL DEFAULT '{}'::jsonb,
  last_seq    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, id)
);
CREATE TABLE parley_members (
  tenant        text   NOT NULL,
  conversation  text   NOT NULL,
  user_id       text   NOT NULL,
  joined_at     bigint NOT NULL,
  last_read_seq bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, conversation, user_id),
  FOREIGN KEY (tenant, conversation) REFERENCES parley_conversations (tenant, id) ON DELETE CASCADE
);
CREATE INDEX parley_members_by_user ON parley_members (tenant, user_id);
CREATE TABLE parley_events (
  tenant        text   NOT NULL,
  conversation  text   NOT NULL,
  seq           bigint NOT NULL,
  id            text   NOT NULL,
  type          text   NOT NULL,
  ts            bigint NOT NULL,
  actor_kind    text   NOT NULL,
  actor_id      text   NOT NULL,
  data          jsonb  NOT NULL,
  causation     jsonb,
  client_msg_id text,
  PRIMARY KEY (tenant, conversation, seq),
  FOREIGN KEY (tenant, conversation) REFERENCES parley_conversations (tenant, id) ON DELETE CASCADE
);
-- Idempotent sends: one event per (sender, clientMsgId) in a conversation.
CREATE UNIQUE INDEX parley_events_client_msg_id
  ON parley_events (tenant, conversation, actor_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
`,
  },
  {
    version: 2,
    name: 'assistant profile per conversation',
    sql: 'ALTER TABLE parley_conversations ADD COLUMN assistant text',
  },
  {
    version: 3,
    name: 'conversation memory',
    sql: `
CREATE TABLE parley_conversation_memory (
  tenant        text   NOT NULL,
  conversation  text   NOT NULL,
  summary       text   NOT NULL,
  through_seq   bigint NOT NULL,
  updated_at    bigint NOT NULL,
  PRIMARY KEY (tenant, conversation),
  FOREIGN KEY (tenant, conversation) REFERENCES parley_conversations (tenant, id) ON DELETE CASCADE
);
`,
  },
  {
    version: 4,
    name: 'conversation activity stamp (the outbox of reactions)',
    sql: `
-- Stamped by every append in the statement that takes its seq (database clock, ms, to within a second):
-- which conversations changed lately, for the reactions' sweep and for listing conversations by last activity.
ALTER TABLE parley_conversations ADD COLUMN last_event_at bigint NOT NULL DEFAULT 0;
UPDATE parley_conversations c SET last_event_at = COALESCE(
  (SELECT e.ts FROM parley_events e WHERE e.tenant = c.tenant AND e.conversation = c.id ORDER BY e.seq DESC LIMIT 1), c.created_at);
CREATE INDEX parley_conversations_by_activity ON parley_conversations (tenant, last_event_at);
`,
  },
  {
    version: 5,
    name: 'reaction cursors',
    sql: `
-- Each reaction's start (events before it are not its business) and the sweep's progress.
CREATE TABLE parley_reactions (
  name          text   PRIMARY KEY,
  registered_at bigint NOT NULL,
  swept_at      bigint NOT NULL,
  sweep_until   bigint NOT NULL DEFAULT 0
);
-- One cursor per reaction and conversation: the last seq handled, and who holds it until when. Only
-- due_at is indexed, and the common claim and settle leave it alone: their updates stay HOT.
CREATE TABLE parley_reaction_cursors (
  reaction      text    NOT NULL,
  tenant        text    NOT NULL,
  conversation  text    NOT NULL,
  seq           bigint  NOT NULL,
  lease_token   text,
  lease_until   bigint  NOT NULL DEFAULT 0,
  -- When to look at it without a wake: marked by the sweep, a retry after a failure, or a lease that
  -- would run out (renewed holds, continued pages) if its holder died. 0: only a wake or the sweep will.
  due_at        bigint  NOT NULL DEFAULT 0,
  wake_pending  boolean NOT NULL DEFAULT false,
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text,
  PRIMARY KEY (reaction, tenant, conversation),
  FOREIGN KEY (tenant, conversation) REFERENCES parley_conversations (tenant, id) ON DELETE CASCADE
) WITH (fillfactor = 70); -- room on each page for the new version of a row: HOT needs it
CREATE INDEX parley_reaction_cursors_due ON parley_reaction_cursors (reaction, due_at) WHERE due_at > 0;
`,
  },
  {
    version: 6,
    name: 'member counts',
    sql: `
ALTER TABLE parley_conversations ADD COLUMN member_count integer NOT NULL DEFAULT 0;
UPDATE parley_conversations c SET member_count = (SELECT count(*) FROM parley_members m WHERE m.tenant = c.tenant AND m.conversation = c.id);
`,
  },
  {
    version: 7,
    name: 'tenant API keys',
    sql: `
CREATE TABLE parley_api_keys (
  id          text   PRIMARY KEY,
  tenant      text   NOT NULL,
  name        text   NOT NULL,
  scopes      text[] NOT NULL,
  secret_hash text   NOT NULL,
  created_at  bigint NOT NULL,
  created_by  text   NOT NULL,
  revoked_at  bigint
);
CREATE INDEX parley_api_keys_by_tenant ON parley_api_keys (tenant, created_at DESC);
`,
  },
  {
    version: 8,
    name: 'webhook endpoints and deliveries',
    sql: `
CREATE TABLE parley_webhook_endpoints (
  id                    text    PRIMARY KEY,
  tenant                text    NOT NULL,
  url                   text    NOT NULL,
  types                 text[]  NOT NULL,
  description           text    NOT NULL DEFAULT '',
  secret                text    NOT NULL,
  previous_secret       text,
  previous_secret_until bigint,
  enabled               boolean NOT NULL DEFAULT true,
  disabled_reason       text,
  failing_since         bigint,
  last_failure_at       bigint,
  created_at            bigint  NOT NULL,
  updated_at            bigint  NOT NULL
);
CREATE INDEX parley_webhook_endpoints_by_tenant ON parley_webhook_endpoints (tenant, created_at);
CREATE TABLE parley_webhook_deliveries (
  id               text    PRIMARY KEY,
  tenant           text    NOT NULL,
  endpoint         text    NOT NULL REFERENCES parley_webhook_endpoints (id) ON DELETE CASCADE,
  event_id         text    NOT NULL,
  event_type       text    NOT NULL,
  conversation     text    NOT NULL,
  seq              bigint  NOT NULL,
  status           text    NOT NULL,
  attempts         int     NOT NULL DEFAULT 0,
  next_attempt_at  bigint,
  window_start     bigint  NOT NULL,
  first_failed_at  bigint,
  lease_owner      text,
  lease_until      bigint,
  last_status_code int,
  last_response    text,
  last_error       text,
  created_at       bigint  NOT NULL,
  updated_at       bigint  NOT NULL,
  delivered_at     bigint,
  UNIQUE (endpoint, event_id),
  FOREIGN KEY (tenant, conversation, seq) REFERENCES parley_events (tenant, conversation, seq) ON DELETE CASCADE
);
-- A lane is an endpoint's deliveries of one conversation; only its lowest pending seq (the head) has a next_attempt_at.
CREATE INDEX parley_webhook_deliveries_lanes ON parley_webhook_deliveries (endpoint, conversation, seq) WHERE status = 'pending';
CREATE INDEX parley_webhook_deliveries_due ON parley_webhook_deliveries (next_attempt_at) WHERE status = 'pending' AND next_attempt_at IS NOT NULL;
CREATE INDEX parley_webhook_deliveries_log ON parley_webhook_deliveries (endpoint, created_at DESC, seq DESC, id DESC);
CREATE INDEX parley_webhook_deliveries_finished ON parley_webhook_deliveries (updated_at) WHERE status <> 'pending';
-- The foreign key's cascade from parley_events looks deliveries up by event.
CREATE INDEX parley_webhook_deliveries_by_event ON parley_webhook_deliveries (tenant, conversation, seq);
`,
  },
  {
    version: 9,
    name: 'support desk',
    // Support conversations (those with an assistant) get a mode; staff-only events their own sequence. None
    // of the new columns is in an index that an append changes, so appends stay HOT updates.
    sql: `
ALTER TABLE parley_conversations
  ADD COLUMN mode            text,
  ADD COLUMN team            text,
  ADD COLUMN assignee        text,
  ADD COLUMN assignee_name   text,
  ADD COLUMN accepted        boolean NOT NULL DEFAULT false,
  ADD COLUMN assigned_at     bigint,
  ADD COLUMN queued_at       bigint,
  ADD COLUMN priority        int     NOT NULL DEFAULT 0,
  ADD COLUMN resolution      int     NOT NULL DEFAULT 0,
  ADD COLUMN rated           boolean NOT NULL DEFAULT false,
  ADD COLUMN first_response_at bigint,
  ADD COLUMN handed_off      boolean NOT NULL DEFAULT false,
  ADD COLUMN sentiment       text,
  ADD COLUMN last_staff_seq  bigint  NOT NULL DEFAULT 0;
UPDATE parley_conversations SET mode = 'assistant' WHERE assistant IS NOT NULL;
CREATE INDEX parley_conversations_queue ON parley_conversations (tenant, priority DESC, queued_at, id) WHERE mode = 'queued';
CREATE INDEX parley_conversations_assignee ON parley_conversations (tenant, assignee) WHERE mode = 'agent';
CREATE INDEX parley_conversations_support ON parley_conversations (tenant, last_event_at DESC, id DESC) WHERE mode IS NOT NULL;
CREATE TABLE parley_staff_events (
  tenant        text    NOT NULL,
  conversation  text    NOT NULL,
  staff_seq     bigint  NOT NULL,
  after_seq     bigint  NOT NULL,
  id            text    NOT NULL,
  type          text    NOT NULL,
  ts            bigint  NOT NULL,
  actor_kind    text    NOT NULL,
  actor_id      text    NOT NULL,
  data          jsonb   NOT NULL,
  causation     jsonb,
  client_msg_id text,
  PRIMARY KEY (tenant, conversation, staff_seq),
  FOREIGN KEY (tenant, conversation) REFERENCES parley_conversations (tenant, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX parley_staff_events_idempotency ON parley_staff_events (tenant, conversation, actor_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
CREATE TABLE parley_support_teams (
  tenant         text   NOT NULL,
  id             text   NOT NULL,
  name           text   NOT NULL,
  skills         text[] NOT NULL DEFAULT '{}',
  business_hours jsonb,
  PRIMARY KEY (tenant, id)
);
CREATE TABLE parley_support_agents (
  tenant           text    NOT NULL,
  user_id          text    NOT NULL,
  name             text,
  picture          text,
  teams            text[]  NOT NULL DEFAULT '{}',
  skills           text[]  NOT NULL DEFAULT '{}',
  capacity         int     NOT NULL DEFAULT 5,
  status           text    NOT NULL DEFAULT 'offline',
  last_seen_at     bigint  NOT NULL DEFAULT 0,
  last_assigned_at bigint  NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, user_id)
);
CREATE TABLE parley_canned_replies (
  tenant   text NOT NULL,
  id       text NOT NULL,
  team     text,
  shortcut text NOT NULL,
  text     text NOT NULL,
  PRIMARY KEY (tenant, id)
);
-- One rating per resolution: the primary key refuses a second.
CREATE TABLE parley_csat (
  tenant       text    NOT NULL,
  conversation text    NOT NULL,
  resolution   int     NOT NULL,
  rating       int     NOT NULL CHECK (rating BETWEEN 1 AND 5),
  comment      text,
  agent        text,
  team         text,
  ts           bigint  NOT NULL,
  PRIMARY KEY (tenant, conversation, resolution)
);
CREATE INDEX parley_csat_by_time ON parley_csat (tenant, ts);
-- Measured service intervals (queue wait, first response, resolution) and handoffs, for the report.
CREATE TABLE parley_support_intervals (
  tenant       text   NOT NULL,
  conversation text   NOT NULL,
  kind         text   NOT NULL,
  reason       text,
  agent        text,
  team         text,
  ended_at     bigint NOT NULL,
  ms           bigint NOT NULL
);
CREATE INDEX parley_support_intervals_by_time ON parley_support_intervals (tenant, kind, ended_at);
`,
  },
  {
    version: 10,
    name: 'widget keys and widget secrets',
    sql: `
-- Public keys of the embeddable widget: which sites (origins) may embed a tenant's chat and mint guest tokens.
CREATE TABLE parley_widget_keys (
  key             text   PRIMARY KEY,
  tenant          text   NOT NULL,
  name            text   NOT NULL,
  allowed_origins text[] NOT NULL,
  created_at      bigint NOT NULL,
  created_by      text   NOT NULL,
  revoked_at      bigint
);
CREATE INDEX parley_widget_keys_by_tenant ON parley_widget_keys (tenant, created_at DESC);
-- A tenant's identity-verification secret: a claimed user id needs its HMAC-SHA256 under it.
CREATE TABLE parley_widget_secrets (
  tenant     text   PRIMARY KEY,
  secret     text   NOT NULL,
  created_at bigint NOT NULL
);
`,
  },
  {
    version: 11,
    name: 'knowledge base',
    sql: `
-- A tenant's knowledge-base documents; version counts content changes, so that indexing of an old one is dropped.
CREATE TABLE parley_kb_documents (
  tenant         text    NOT NULL,
  id             text    NOT NULL,
  source         text    NOT NULL,
  title          text    NOT NULL,
  url            text,
  tags           text[]  NOT NULL DEFAULT '{}',
  format         text    NOT NULL,
  content        text    NOT NULL,
  bytes          int     NOT NULL,
  version        int     NOT NULL,
  status         text    NOT NULL,
  chunks_indexed int     NOT NULL DEFAULT 0,
  chunks_total   int,
  error          text,
  created_at     bigint  NOT NULL,
  updated_at     bigint  NOT NULL,
  indexed_at     bigint,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX parley_kb_documents_by_time ON parley_kb_documents (tenant, created_at DESC, id DESC);
-- Passages: the full-text vector is computed by the database (English stemming, headings included);
-- embeddings are real[] so that the same schema runs on PGlite and on a PostgreSQL without pgvector.
CREATE TABLE parley_kb_chunks (
  tenant    text   NOT NULL,
  document  text   NOT NULL,
  position  int    NOT NULL,
  heading   text   NOT NULL,
  text      text   NOT NULL,
  embedding real[],
  search    tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english', heading), 'B') || to_tsvector('english', text)) STORED,
  PRIMARY KEY (tenant, document, position),
  FOREIGN KEY (tenant, document) REFERENCES parley_kb_documents (tenant, id) ON DELETE CASCADE
);
CREATE INDEX parley_kb_chunks_search ON parley_kb_chunks USING gin (search);
`,
  },
  {
    version: 12,
    name: 'attachments',
    sql: `
-- Files of a conversation: pending until finalize measured and sniffed the bytes, then ready.
CREATE TABLE parley_attachments (
  tenant        text   NOT NULL,
  conversation  text   NOT NULL,
  id            text   NOT NULL,
  uploaded_by   text   NOT NULL,
  name          text   NOT NULL,
  content_type  text   NOT NULL,
  size          bigint NOT NULL,
  state         text   NOT NULL CHECK (state IN ('pending', 'ready')),
  storage_key   text   NOT NULL,
  created_at    bigint NOT NULL,
  PRIMARY KEY (tenant, conversation, id)
);
`,
  },
];
