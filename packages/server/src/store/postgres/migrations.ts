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
    name: 'member counts, last activity, members by user',
    sql: `
ALTER TABLE parley_conversations ADD COLUMN member_count integer NOT NULL DEFAULT 0;
ALTER TABLE parley_conversations ADD COLUMN last_event_at bigint NOT NULL DEFAULT 0;
UPDATE parley_conversations c SET
  member_count = (SELECT count(*) FROM parley_members m WHERE m.tenant = c.tenant AND m.conversation = c.id),
  last_event_at = COALESCE((SELECT max(e.ts) FROM parley_events e WHERE e.tenant = c.tenant AND e.conversation = c.id), c.created_at);
-- A tenant's most recently active conversations (the reactions' sweep, admin listings).
CREATE INDEX parley_conversations_by_activity ON parley_conversations (tenant, last_event_at DESC, id DESC);
`,
  },
  {
    version: 5,
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
];
