import { closest } from 'fastest-levenshtein';
import { identifierSchema, type Role } from '@parley/protocol';
import { z } from 'zod';
import { OutboundPolicy } from '../net/outbound-policy.js';

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const list = z.string().transform((text) => text.split(',').map((item) => item.trim()).filter(Boolean));
const optionalText = z.string().min(1).optional();
/** Addresses, CIDR ranges and host names that calls to tenant-configured URLs may reach although not public. */
const allowList = list.superRefine((entries, context) => {
  for (const entry of entries) {
    const problem = OutboundPolicy.entryProblem(entry);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  }
});
/** A host name or IPv4 address with an optional port, or `*.` and a domain (any of its subdomains). */
const IMAGE_HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/;
/** JSON: tenant (or `*`, every tenant) -> hosts whose images the web pages load. */
const imageHosts = z
  .string()
  .transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'must be JSON, e.g. {"demo": ["images.example.com", "*.cdn.example"]}' });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.union([z.literal('*'), identifierSchema]), z.array(z.string().toLowerCase().regex(IMAGE_HOST, 'must be a host name, an IPv4 address or *.domain, with an optional :port')).max(100)));
/** Media types, comma-separated: `type/subtype`, lowercase. */
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;
const mediaTypes = list.pipe(z.array(z.string().toLowerCase().regex(MEDIA_TYPE, 'each must be a media type such as image/png')).min(1));
/** JSON: tenant -> its attachment limits (either field may be left to the defaults). */
const attachmentLimits = z
  .string()
  .transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'must be JSON, e.g. {"acme": {"maxBytes": 5242880, "types": ["image/png"]}}' });
      return z.NEVER;
    }
  })
  .pipe(z.record(identifierSchema, z.strictObject({ maxBytes: z.number().int().min(1).optional(), types: z.array(z.string().toLowerCase().regex(MEDIA_TYPE, 'must be a media type such as image/png')).optional() })));
const roleMap = list.pipe(
  z.array(z.string().regex(/^.+=(user|agent|admin)$/, 'each entry must be value=role with role user, agent or admin')).transform((entries) =>
    entries.map((entry) => {
      const at = entry.lastIndexOf('=');
      return [entry.slice(0, at), entry.slice(at + 1) as Role] as const;
    }),
  ),
);
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
// Its keys are fetched from it: over plain HTTP anyone on the path could hand out keys that sign any agent in.
const oidcIssuer = z.url().refine((text) => {
  const url = new URL(text);
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
}, 'must be an https URL (http only on a loopback address)');
const oidcScopes = z.string().refine((text) => text.split(/\s+/).includes('openid'), 'must include openid');
// ws compresses messages of 1 KiB and more by default: smaller ones gain little for the CPU they cost.
const DEFAULT_DEFLATE_THRESHOLD = 1024;
/** `off`, `on`, or the smallest message in bytes to compress; the output is that threshold, or null for off. */
const deflate = z
  .string()
  .regex(/^(off|on|\d{1,9})$/, 'must be off, on, or the smallest message in bytes to compress')
  .transform((text) => (text === 'off' ? null : text === 'on' ? DEFAULT_DEFLATE_THRESHOLD : Number(text)));

/**
 * Every setting: its environment variable, optional command-line flag, schema and default.
 * This table is the configuration reference (see `parley config`).
 */
export const SETTINGS = {
  role: { env: 'PARLEY_ROLE', flag: 'role', schema: z.enum(['all', 'gateway', 'worker']), default: 'all', help: 'all: serve clients and run AI jobs; gateway: serve clients only; worker: run AI jobs only (HTTP health and metrics still served). gateway and worker need PARLEY_REDIS_URL and DATABASE_URL' },
  port: { env: 'PORT', flag: 'port', schema: integer(0, 65_535), default: '8080', help: 'TCP port to listen on (0 picks a free one)' },
  listenBacklog: { env: 'PARLEY_LISTEN_BACKLOG', flag: undefined, schema: integer(1, 65_535), default: '4096', help: 'connections the kernel queues before they are accepted (capped by net.core.somaxconn); a queue that overflows in a reconnect storm costs clients a SYN retry of 1 s, then 3 s, 7 s ...' },
  host: { env: 'HOST', flag: 'host', schema: z.string().min(1), default: '0.0.0.0', help: 'interface to listen on' },
  dataDir: { env: 'PARLEY_DATA_DIR', flag: 'data-dir', schema: z.string().min(1), default: './data', help: 'directory of the embedded database (PGlite) and the development secret' },
  databaseUrl: { env: 'DATABASE_URL', flag: 'database-url', schema: z.url({ protocol: /^postgres(ql)?$/ }).optional(), default: undefined, help: 'PostgreSQL URL; when unset, PGlite runs embedded under the data directory' },
  databaseSchema: { env: 'PARLEY_DATABASE_SCHEMA', flag: undefined, schema: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional(), default: undefined, help: 'PostgreSQL schema (search_path) for Parley tables' },
  databaseConnectTimeoutMs: { env: 'PARLEY_DATABASE_CONNECT_TIMEOUT_MS', flag: undefined, schema: integer(100, 600_000), default: '10000', help: 'how long opening a PostgreSQL connection (or waiting for a free one in the pool) may take; at start, a DATABASE_URL that does not answer in time stops the server with a message naming it' },
  databasePoolSize: { env: 'PARLEY_DATABASE_POOL_SIZE', flag: undefined, schema: integer(1, 1000), default: '10', help: 'PostgreSQL connections per process' },
  logLevel: { env: 'PARLEY_LOG_LEVEL', flag: 'log-level', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), default: 'info', help: 'log level' },
  otel: { env: 'PARLEY_OTEL', flag: undefined, schema: z.enum(['on', 'off']), default: 'off', help: 'on: export OpenTelemetry traces over OTLP/HTTP (JSON) as the standard OTEL_* variables say (OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318; OTEL_TRACES_SAMPLER; OTEL_SERVICE_NAME, default parley), and put trace_id/span_id in log lines; see docs/observability.md' },
  jwtSecret: { env: 'PARLEY_JWT_SECRET', flag: undefined, schema: z.string().min(32, 'must be at least 32 characters').optional(), default: undefined, help: 'HS256 shared secret; when neither it nor a JWKS is set, a development secret is kept in the data directory' },
  jwksFile: { env: 'PARLEY_JWKS_FILE', flag: undefined, schema: optionalText, default: undefined, help: 'path of a JWKS (JSON) with RS256/ES256 public keys' },
  jwksUrl: { env: 'PARLEY_JWKS_URL', flag: undefined, schema: z.url().optional(), default: undefined, help: 'URL of a JWKS with RS256/ES256 public keys' },
  jwtIssuer: { env: 'PARLEY_JWT_ISSUER', flag: undefined, schema: optionalText, default: undefined, help: 'required `iss` claim, when set' },
  jwtAudience: { env: 'PARLEY_JWT_AUDIENCE', flag: undefined, schema: optionalText, default: undefined, help: 'required `aud` claim, when set' },
  clockToleranceSeconds: { env: 'PARLEY_JWT_CLOCK_TOLERANCE_S', flag: undefined, schema: integer(0, 300), default: '5', help: 'allowed clock skew for exp/nbf' },
  oidcIssuer: { env: 'PARLEY_OIDC_ISSUER', flag: undefined, schema: oidcIssuer.optional(), default: undefined, help: 'OpenID Connect issuer that agents sign in to the console (/agent) with (authorization code + PKCE); its ID tokens are accepted, verified with the keys its /.well-known/openid-configuration names. Setting it turns development tokens off. https, or http on a loopback address; see docs/agent-sign-in.md' },
  oidcClientId: { env: 'PARLEY_OIDC_CLIENT_ID', flag: undefined, schema: optionalText, default: undefined, help: "the console's client id at PARLEY_OIDC_ISSUER (a public client, no secret); ID tokens must have it as their audience" },
  oidcScopes: { env: 'PARLEY_OIDC_SCOPES', flag: undefined, schema: oidcScopes, default: 'openid profile email', help: 'scopes the console asks the issuer for, space-separated; must include openid (add the one that puts the roles claim in the ID token, if the issuer needs it)' },
  oidcUserClaim: { env: 'PARLEY_OIDC_USER_CLAIM', flag: undefined, schema: z.string().min(1), default: 'sub', help: "ID token claim holding the agent's user id (an identifier: letters, digits, _ . : @ -), e.g. oid for Entra ID" },
  oidcRolesClaim: { env: 'PARLEY_OIDC_ROLES_CLAIM', flag: undefined, schema: z.string().min(1), default: 'roles', help: 'ID token claim holding the roles or groups (a list, or a space- or comma-separated string); a dotted path reaches nested claims (realm_access.roles)' },
  oidcRoleMap: { env: 'PARLEY_OIDC_ROLE_MAP', flag: undefined, schema: roleMap.optional(), default: undefined, help: 'provider value=Parley role pairs, comma-separated (support-agents=agent,support-leads=admin); unset: the values user, agent and admin grant themselves' },
  oidcDefaultRole: { env: 'PARLEY_OIDC_DEFAULT_ROLE', flag: undefined, schema: z.enum(['none', 'user', 'agent', 'admin']), default: 'none', help: 'role of an ID token whose roles claim grants none; none: such a token is refused (unauthorized)' },
  oidcTenant: { env: 'PARLEY_OIDC_TENANT', flag: undefined, schema: identifierSchema.optional(), default: undefined, help: 'the tenant of every user of PARLEY_OIDC_ISSUER (set it or PARLEY_OIDC_TENANT_CLAIM)' },
  oidcTenantClaim: { env: 'PARLEY_OIDC_TENANT_CLAIM', flag: undefined, schema: optionalText, default: undefined, help: "ID token claim holding the user's tenant, e.g. tid for Entra ID or org_id for Auth0 organizations (set it or PARLEY_OIDC_TENANT)" },
  connectTimeoutMs: { env: 'PARLEY_CONNECT_TIMEOUT_MS', flag: undefined, schema: integer(100, 600_000), default: '10000', help: 'a connection without a valid `connect` by then is closed (4004)' },
  allowedOrigins: { env: 'PARLEY_ALLOWED_ORIGINS', flag: undefined, schema: list.optional(), default: undefined, help: 'exact browser origins allowed to use the WebSocket, the HTTP transports (SSE, HTTP streaming, long-poll) and the AI SDK endpoints (CORS preflights are answered for them), comma-separated; unset allows only same-host origins' },
  aiSdkAssistant: { env: 'PARLEY_AI_SDK_ASSISTANT', flag: undefined, schema: z.string().min(1), default: 'assistant', help: 'assistant profile of the chats the AI SDK endpoints (/v1/ai-sdk/*) open when the request names none (body.assistant)' },
  maxFrameBytes: { env: 'PARLEY_MAX_FRAME_BYTES', flag: undefined, schema: integer(1024, 16 * 1024 * 1024), default: String(128 * 1024), help: 'largest accepted client frame; larger ones get `too_large` (beyond 4x the connection is closed with 1009)' },
  wsDeflate: { env: 'PARLEY_WS_DEFLATE', flag: undefined, schema: deflate, default: 'off', help: 'WebSocket permessage-deflate: off, on (messages of 1024 bytes or more), or the smallest message in bytes to compress. Costs CPU per message and per connection and about 250 KB of zlib memory per connection (see docs/protocol.md)' },
  pingIntervalMs: { env: 'PARLEY_PING_INTERVAL_MS', flag: undefined, schema: integer(100, 600_000), default: '25000', help: 'WebSocket ping interval, and the interval of the pings on SSE and HTTP streams' },
  pingTimeoutMs: { env: 'PARLEY_PING_TIMEOUT_MS', flag: undefined, schema: integer(100, 600_000), default: '20000', help: 'a connection silent this long after a ping is closed (4002)' },
  ratePerSecond: { env: 'PARLEY_RATE_PER_SECOND', flag: undefined, schema: z.coerce.number().positive(), default: '20', help: 'frames per second per connection (token bucket refill)' },
  rateBurst: { env: 'PARLEY_RATE_BURST', flag: undefined, schema: integer(1), default: '60', help: 'token bucket size per connection' },
  userSendRatePerSecond: { env: 'PARLEY_USER_SEND_RATE_PER_SECOND', flag: undefined, schema: z.coerce.number().positive(), default: '50', help: 'messages per second one user may send, over all their connections (and every node, with Redis)' },
  userSendBurst: { env: 'PARLEY_USER_SEND_BURST', flag: undefined, schema: integer(1), default: '200', help: 'messages one user may send at once before PARLEY_USER_SEND_RATE_PER_SECOND applies' },
  maxConnectionsPerUser: { env: 'PARLEY_MAX_CONNECTIONS_PER_USER', flag: undefined, schema: integer(1), default: '20', help: 'open connections per user per node; more are closed (4005)' },
  maxConnectionsPerIp: { env: 'PARLEY_MAX_CONNECTIONS_PER_IP', flag: undefined, schema: integer(1), default: '1000', help: 'open connections per client IP per node (WebSockets and HTTP transport sessions together); more are refused with HTTP 429' },
  rtSessionTimeoutMs: { env: 'PARLEY_RT_SESSION_TIMEOUT_MS', flag: undefined, schema: integer(1000, 3_600_000), default: '30000', help: 'an SSE, HTTP streaming or long-poll session with no stream or poll attached for this long ends (as a WebSocket that died); its client opens a new one and resumes by seq' },
  rtPollTimeoutMs: { env: 'PARLEY_RT_POLL_TIMEOUT_MS', flag: undefined, schema: integer(100, 600_000), default: '25000', help: 'a long-poll with nothing to deliver answers empty after this long (keep it below proxy read timeouts and PARLEY_RT_SESSION_TIMEOUT_MS)' },
  rtForwardTimeoutMs: { env: 'PARLEY_RT_FORWARD_TIMEOUT_MS', flag: undefined, schema: integer(100, 60_000), default: '3000', help: 'how long a node waits for the node holding an HTTP transport session to answer a forwarded send, poll or stream; no answer: 410 session_expired (that node is gone)' },
  maxBufferedBytes: { env: 'PARLEY_MAX_BUFFERED_BYTES', flag: undefined, schema: integer(1024), default: String(1024 * 1024), help: 'outbound bytes a connection may have queued; beyond it is closed as a slow consumer (4001)' },
  largeRoomMembers: { env: 'PARLEY_LARGE_ROOM_MEMBERS', flag: undefined, schema: integer(1, 1_000_000), default: '100', help: 'conversations with more members are large rooms: read markers move without receipt.read events, typing and presence are not broadcast, and views carry memberCount instead of the member list (page it with members.list)' },
  apiMaxBodyBytes: { env: 'PARLEY_API_MAX_BODY_BYTES', flag: undefined, schema: integer(1024, 64 * 1024 * 1024), default: String(1024 * 1024), help: 'largest request body of the server API (/v1/api); larger ones get 413 too_large' },
  maxPendingRequests: { env: 'PARLEY_MAX_PENDING_REQUESTS', flag: undefined, schema: integer(1), default: '64', help: 'requests of one connection queued for processing; beyond it they get `busy`' },
  redisUrl: { env: 'PARLEY_REDIS_URL', flag: undefined, schema: z.url({ protocol: /^rediss?$/ }).optional(), default: undefined, help: 'Redis shared by several nodes (bus, presence, rate limits, budgets, AI job queue); unset: the in-memory versions of one process' },
  redisPrefix: { env: 'PARLEY_REDIS_PREFIX', flag: undefined, schema: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/), default: 'parley', help: 'prefix of every Redis key and channel' },
  hotLogTtlSeconds: { env: 'PARLEY_HOT_LOG_TTL_S', flag: undefined, schema: integer(1), default: '86400', help: 'how long the Redis hot log of an idle conversation lives' },
  presenceTtlSeconds: { env: 'PARLEY_PRESENCE_TTL_S', flag: undefined, schema: integer(3, 3600), default: '60', help: 'with Redis: a connection\'s presence entry expires this long after its last heartbeat (a third of it apart)' },
  presenceGraceMs: { env: 'PARLEY_PRESENCE_GRACE_MS', flag: undefined, schema: integer(0, 600_000), default: '15000', help: 'a connection lost without a closing handshake keeps its user present this long: a reconnect within it announces neither presence.left nor presence.joined (0: at once; at most two thirds of PARLEY_PRESENCE_TTL_S)' },
  hotLogSize: { env: 'PARLEY_HOT_LOG_SIZE', flag: undefined, schema: integer(0), default: '1000', help: 'recent events per conversation kept on the bus for fast resume' },
  hotLogMaxBytes: { env: 'PARLEY_HOT_LOG_MAX_BYTES', flag: undefined, schema: integer(0), default: String(64 * 1024 * 1024), help: 'memory of all hot logs of the in-memory bus; the least recently active conversations are dropped first' },
  assistantsFile: { env: 'PARLEY_ASSISTANTS_FILE', flag: undefined, schema: optionalText, default: undefined, help: 'JSON file of assistant profiles ({"assistants": [...]}, see docs/ai.md); unset: one profile `assistant`' },
  llmBaseUrl: { env: 'PARLEY_LLM_BASE_URL', flag: undefined, schema: z.url().optional(), default: undefined, help: 'OpenAI-compatible API (OpenAI, vLLM, Ollama, llama.cpp) for the default profile, e.g. http://localhost:11434/v1' },
  llmApiKey: { env: 'PARLEY_LLM_API_KEY', flag: undefined, schema: optionalText, default: undefined, help: 'API key for PARLEY_LLM_BASE_URL' },
  llmModel: { env: 'PARLEY_LLM_MODEL', flag: undefined, schema: optionalText, default: undefined, help: 'model name at PARLEY_LLM_BASE_URL (default gpt-4o-mini)' },
  kbMaxDocumentBytes: { env: 'PARLEY_KB_MAX_DOCUMENT_BYTES', flag: undefined, schema: integer(1024, 64 * 1024 * 1024), default: String(512 * 1024), help: 'largest knowledge-base document (content in UTF-8 bytes); larger ones get too_large (the API body limit PARLEY_API_MAX_BODY_BYTES applies too)' },
  kbMaxDocuments: { env: 'PARLEY_KB_MAX_DOCUMENTS', flag: undefined, schema: integer(1), default: '10000', help: "documents one tenant's knowledge base may hold; beyond it adding one gets too_large" },
  embeddingsBaseUrl: { env: 'PARLEY_EMBEDDINGS_BASE_URL', flag: undefined, schema: z.url().optional(), default: undefined, help: 'OpenAI-compatible embeddings API (POST /embeddings) for the knowledge base; when set, passages are embedded and searches are hybrid (full text and vectors, fused by rank)' },
  embeddingsApiKey: { env: 'PARLEY_EMBEDDINGS_API_KEY', flag: undefined, schema: optionalText, default: undefined, help: 'API key for PARLEY_EMBEDDINGS_BASE_URL' },
  embeddingsModel: { env: 'PARLEY_EMBEDDINGS_MODEL', flag: undefined, schema: optionalText, default: undefined, help: 'embedding model at PARLEY_EMBEDDINGS_BASE_URL (default text-embedding-3-small)' },
  anthropicApiKey: { env: 'PARLEY_ANTHROPIC_API_KEY', flag: undefined, schema: optionalText, default: undefined, help: 'Anthropic API key for the default profile' },
  anthropicModel: { env: 'PARLEY_ANTHROPIC_MODEL', flag: undefined, schema: optionalText, default: undefined, help: 'Anthropic model (default claude-3-5-haiku-latest)' },
  demoTtftMs: { env: 'PARLEY_DEMO_TTFT_MS', flag: undefined, schema: integer(0, 60_000), default: '300', help: "the demo model's time to first token" },
  demoTokensPerSecond: { env: 'PARLEY_DEMO_TOKENS_PER_SECOND', flag: undefined, schema: z.coerce.number().positive().max(100_000), default: '40', help: "the demo model's tokens per second" },
  demoAnswerTokens: { env: 'PARLEY_DEMO_ANSWER_TOKENS', flag: undefined, schema: integer(0, 100_000), default: '0', help: "when above 0, every demo answer is exactly this many tokens (its text repeated or cut; for benchmarks); 0 keeps each answer's own length" },
  aiQueueSize: { env: 'PARLEY_AI_QUEUE_SIZE', flag: undefined, schema: integer(1), default: '200', help: 'AI jobs waiting at most (across every node, with Redis); beyond it user messages to assistants get `busy`' },
  aiConcurrency: { env: 'PARLEY_AI_CONCURRENCY', flag: undefined, schema: integer(1), default: '32', help: 'AI generations running at once on one worker node' },
  aiTenantConcurrency: { env: 'PARLEY_AI_TENANT_CONCURRENCY', flag: undefined, schema: integer(1), default: '8', help: 'AI generations of one tenant running at once (across every worker, with Redis)' },
  aiJobVisibilityMs: { env: 'PARLEY_AI_JOB_VISIBILITY_MS', flag: undefined, schema: integer(1000, 600_000), default: '10000', help: 'with Redis: an AI job whose worker has not renewed it for this long (it died) is taken over by another worker; its answer ends within 1.25x this' },
  aiBudgetWindowSeconds: { env: 'PARLEY_AI_BUDGET_WINDOW_S', flag: undefined, schema: integer(1), default: '3600', help: 'length of the per-user AI budget window' },
  aiBudgetRequests: { env: 'PARLEY_AI_BUDGET_REQUESTS', flag: undefined, schema: integer(1), default: '200', help: 'AI answers one user may ask for per window; beyond it `rate_limited` with the reset time' },
  aiBudgetTokens: { env: 'PARLEY_AI_BUDGET_TOKENS', flag: undefined, schema: integer(1), default: '200000', help: 'output tokens of one user\'s AI answers per window' },
  reactionSweepMs: { env: 'PARLEY_REACTION_SWEEP_MS', flag: undefined, schema: integer(100, 600_000), default: '2000', help: 'how often reactions (AI answers, webhooks) look for work that no wake announced: a node that died after a commit, a lost bus message, a retry that is due; the longest such work waits, beyond a lease' },
  reactionLookbackMs: { env: 'PARLEY_REACTION_LOOKBACK_MS', flag: undefined, schema: integer(1000, 86_400_000), default: '60000', help: "how far the reactions' sweep looks back before its previous run: the longest an append may take to commit after it took its seq" },
  reactionLeaseMs: { env: 'PARLEY_REACTION_LEASE_MS', flag: undefined, schema: integer(300, 3_600_000), default: '30000', help: "how long a node holds a conversation for a reaction without renewing it (it renews every third); a dead node's conversations go on after this" },
  reactionConcurrency: { env: 'PARLEY_REACTION_CONCURRENCY', flag: undefined, schema: integer(1, 10_000), default: '32', help: 'conversations one node handles at once for each reaction' },
  supportAcceptTimeoutMs: { env: 'PARLEY_SUPPORT_ACCEPT_TIMEOUT_MS', flag: undefined, schema: integer(1000, 86_400_000), default: '60000', help: 'a conversation that routing assigned and the agent did not accept (claim or reply) within this goes back to the queue for someone else' },
  supportRouteIntervalMs: { env: 'PARLEY_SUPPORT_ROUTE_INTERVAL_MS', flag: undefined, schema: integer(100, 600_000), default: '2000', help: 'how often each node looks at the support queues and stale assignments besides being woken by a handoff, a free agent or an agent coming online' },
  outboundAllow: { env: 'PARLEY_OUTBOUND_ALLOW', flag: undefined, schema: allowList.optional(), default: undefined, help: 'addresses (127.0.0.1), CIDR ranges (10.0.0.0/8, fd00::/8) and host names (hooks.internal, *.corp.example) that webhooks, tool and context webhooks may call although they are not public, comma-separated; every other loopback, private, link-local, unique-local, shared (100.64/10) or reserved address is refused after DNS resolution' },
  webhookRetryHours: { env: 'PARLEY_WEBHOOK_RETRY_HOURS', flag: undefined, schema: z.coerce.number().positive().max(24 * 30), default: '24', help: 'how long a webhook delivery is retried (exponential backoff with full jitter) before it is marked failed; an endpoint failing without a success for this long is disabled' },
  webhookRetryBaseMs: { env: 'PARLEY_WEBHOOK_RETRY_BASE_MS', flag: undefined, schema: integer(1, 3_600_000), default: '5000', help: 'the first retry of a webhook delivery waits up to this long; each further one up to twice as long as the one before (at most an hour)' },
  webhookTimeoutMs: { env: 'PARLEY_WEBHOOK_TIMEOUT_MS', flag: undefined, schema: integer(100, 120_000), default: '10000', help: 'a webhook endpoint that has not answered within this long counts as a failed attempt' },
  webhookConcurrency: { env: 'PARLEY_WEBHOOK_CONCURRENCY', flag: undefined, schema: integer(2, 10_000), default: '64', help: 'webhook deliveries in flight at once on one node' },
  webhookEndpointConcurrency: { env: 'PARLEY_WEBHOOK_ENDPOINT_CONCURRENCY', flag: undefined, schema: integer(1, 1000), default: '8', help: 'webhook deliveries in flight at once to one endpoint from one node (less than PARLEY_WEBHOOK_CONCURRENCY, so that a slow endpoint never holds every slot)' },
  imageHosts: { env: 'PARLEY_IMAGE_HOSTS', flag: undefined, schema: imageHosts, default: '{}', help: 'hosts whose images the web pages load in Markdown, per tenant, as JSON: {"demo": ["images.example.com", "*.cdn.example", "127.0.0.1:8080"], "*": [...every tenant]}; a host without a port matches any port. Any other image is shown as a link and never fetched (an image URL can carry conversation text to its host)' },
  widgetTokenTtlSeconds: { env: 'PARLEY_WIDGET_TOKEN_TTL_S', flag: undefined, schema: integer(60, 86_400), default: '3600', help: 'lifetime of the tokens the widget mints with a widget key (guests and verified users); the widget asks for a new one when it reconnects' },
  widgetTokensPerKeyPerMinute: { env: 'PARLEY_WIDGET_TOKENS_PER_KEY_PER_MINUTE', flag: undefined, schema: integer(1, 1_000_000), default: '600', help: 'widget tokens one widget key may mint per minute (a bucket of this size, refilled evenly; across every node, with Redis); beyond it `rate_limited` with Retry-After' },
  widgetTokensPerAddressPerMinute: { env: 'PARLEY_WIDGET_TOKENS_PER_ADDRESS_PER_MINUTE', flag: undefined, schema: integer(1, 1_000_000), default: '10', help: 'widget tokens one client address may mint per minute, over every widget key (as PARLEY_WIDGET_TOKENS_PER_KEY_PER_MINUTE)' },
  storage: { env: 'PARLEY_STORAGE', flag: undefined, schema: z.enum(['disk', 's3']), default: 'disk', help: 'where attachment bytes live: disk (files under the data directory; one node, or a directory every node shares) or s3 (an S3-compatible bucket, PARLEY_S3_*; clients upload to it with presigned URLs)' },
  s3Bucket: { env: 'PARLEY_S3_BUCKET', flag: undefined, schema: optionalText, default: undefined, help: 'with PARLEY_STORAGE=s3: the bucket of attachments (it must exist; allow PUT from the web origin in its CORS rules for browser uploads)' },
  s3Region: { env: 'PARLEY_S3_REGION', flag: undefined, schema: z.string().min(1), default: 'us-east-1', help: "with PARLEY_STORAGE=s3: the bucket's region" },
  s3Endpoint: { env: 'PARLEY_S3_ENDPOINT', flag: undefined, schema: z.url({ protocol: /^https?$/ }).optional(), default: undefined, help: "with PARLEY_STORAGE=s3: an S3-compatible endpoint (MinIO, Ceph, R2, ...); unset: AWS's for the region. Clients upload to it directly, so it must be reachable from them" },
  s3ForcePathStyle: { env: 'PARLEY_S3_FORCE_PATH_STYLE', flag: undefined, schema: z.enum(['on', 'off']).transform((value) => value === 'on'), default: 'off', help: 'on: address the bucket in the path (http://host/bucket/key), as most self-hosted S3-compatible servers need' },
  s3AccessKeyId: { env: 'PARLEY_S3_ACCESS_KEY_ID', flag: undefined, schema: optionalText, default: undefined, help: "with PARLEY_STORAGE=s3: the access key (with PARLEY_S3_SECRET_ACCESS_KEY); unset: the AWS SDK's default credential chain (instance role, AWS_* variables, shared config)" },
  s3SecretAccessKey: { env: 'PARLEY_S3_SECRET_ACCESS_KEY', flag: undefined, schema: optionalText, default: undefined, help: 'the secret of PARLEY_S3_ACCESS_KEY_ID' },
  attachmentMaxBytes: { env: 'PARLEY_ATTACHMENT_MAX_BYTES', flag: undefined, schema: integer(1, 5 * 1024 * 1024 * 1024), default: String(10 * 1024 * 1024), help: 'largest attachment, in bytes, of tenants that PARLEY_ATTACHMENT_LIMITS does not name; larger ones get too_large' },
  attachmentTypes: { env: 'PARLEY_ATTACHMENT_TYPES', flag: undefined, schema: mediaTypes, default: 'image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain', help: 'attachment types accepted (as sniffed from the bytes, not as declared), comma-separated, for tenants that PARLEY_ATTACHMENT_LIMITS does not name' },
  attachmentLimits: { env: 'PARLEY_ATTACHMENT_LIMITS', flag: undefined, schema: attachmentLimits, default: '{}', help: 'per-tenant attachment limits as JSON: {"acme": {"maxBytes": 5242880, "types": ["image/png", "image/jpeg"]}}; a field left out takes PARLEY_ATTACHMENT_MAX_BYTES or PARLEY_ATTACHMENT_TYPES' },
  attachmentUrlTtlSeconds: { env: 'PARLEY_ATTACHMENT_URL_TTL_S', flag: undefined, schema: integer(10, 86_400), default: '300', help: 'lifetime of the signed URLs that serve an attachment and of presigned upload URLs' },
  fileUrlSecret: { env: 'PARLEY_FILE_URL_SECRET', flag: undefined, schema: z.string().min(32, 'must be at least 32 characters').optional(), default: undefined, help: 'key that signs attachment URLs; every node must share it. Unset: derived from the JWT or development secret, else random per process (URLs then work only on the node that signed them)' },
  webDir: { env: 'PARLEY_WEB_DIR', flag: undefined, schema: optionalText, default: undefined, help: 'directory of the web UI served at / (default: packages/web/dist of this repository)' },
  shutdownGraceMs: { env: 'PARLEY_SHUTDOWN_GRACE_MS', flag: undefined, schema: integer(0), default: '10000', help: 'how long SIGTERM waits for in-flight requests' },
} as const;

type Settings = typeof SETTINGS;
/** The validated configuration: one field per setting. */
export type Config = { [K in keyof Settings]: z.output<Settings[K]['schema']> };
export type SettingName = keyof Settings;

/** Configuration failed validation; `problems` name the variable or flag and what is wrong. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Second names of settings whose own name is not PARLEY_*: PORT and HOST are what platforms that assign a
 * port set, and PARLEY_PORT / PARLEY_HOST what a reader of the other settings writes. Both are read and
 * validated; when both are set and differ, the setting's own name wins (a platform's PORT must be obeyed).
 */
export const ALIASES: Partial<Record<SettingName, string>> = { port: 'PARLEY_PORT', host: 'PARLEY_HOST' };

/** Builds the configuration from flags (which win) and environment variables; throws ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined>, flags: Record<string, string | undefined> = {}): Config {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as Array<[SettingName, Settings[SettingName]]>) {
    const sources = sourcesOf(name, env, flags);
    for (const source of sources) {
      const parsed = (setting.schema as z.ZodType).safeParse(source.raw);
      if (!parsed.success) problems.push(`${source.label}=${JSON.stringify(source.raw)}: ${parsed.error.issues[0]?.message}`);
      else if (source === sources[0]) config[name] = parsed.data;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const result = config as Config;
  if (result.jwksFile && result.jwksUrl) throw new ConfigError(['set PARLEY_JWKS_FILE or PARLEY_JWKS_URL, not both']);
  const oidc = oidcProblems(result);
  if (oidc.length > 0) throw new ConfigError(oidc);
  if (result.pingTimeoutMs < 100) throw new ConfigError(['PARLEY_PING_TIMEOUT_MS must be at least 100']);
  // Between two polls a session has no reader: a poll must come back before the session times out.
  if (result.rtPollTimeoutMs >= result.rtSessionTimeoutMs) {
    throw new ConfigError([`PARLEY_RT_POLL_TIMEOUT_MS=${result.rtPollTimeoutMs} must be less than PARLEY_RT_SESSION_TIMEOUT_MS (${result.rtSessionTimeoutMs})`]);
  }
  // A lost connection's entry is refreshed no more; it must outlive the grace, however late its last refresh was.
  if (result.presenceGraceMs > (result.presenceTtlSeconds * 1000 * 2) / 3) {
    throw new ConfigError([`PARLEY_PRESENCE_GRACE_MS=${result.presenceGraceMs} must be at most two thirds of PARLEY_PRESENCE_TTL_S (${(result.presenceTtlSeconds * 2000) / 3} ms)`]);
  }
  if (result.webhookEndpointConcurrency >= result.webhookConcurrency) {
    throw new ConfigError([`PARLEY_WEBHOOK_ENDPOINT_CONCURRENCY=${result.webhookEndpointConcurrency} must be less than PARLEY_WEBHOOK_CONCURRENCY (${result.webhookConcurrency}): a slow endpoint must not hold every slot`]);
  }
  if (result.storage === 's3' && !result.s3Bucket) throw new ConfigError(['PARLEY_STORAGE=s3 needs PARLEY_S3_BUCKET']);
  if ((result.s3AccessKeyId === undefined) !== (result.s3SecretAccessKey === undefined)) throw new ConfigError(['set both PARLEY_S3_ACCESS_KEY_ID and PARLEY_S3_SECRET_ACCESS_KEY, or neither']);
  if (result.role !== 'all' && (!result.redisUrl || !result.databaseUrl)) {
    throw new ConfigError([`--role ${result.role} shares work with other nodes: set PARLEY_REDIS_URL and DATABASE_URL`]);
  }
  return result;
}

/** What is missing or contradictory in the OIDC settings, once the issuer is set. */
function oidcProblems(config: Config): string[] {
  if (!config.oidcIssuer) return [];
  const problems: string[] = [];
  if (!config.oidcClientId) problems.push('PARLEY_OIDC_ISSUER needs PARLEY_OIDC_CLIENT_ID (the audience of its ID tokens)');
  if ((config.oidcTenant === undefined) === (config.oidcTenantClaim === undefined)) problems.push('PARLEY_OIDC_ISSUER needs exactly one of PARLEY_OIDC_TENANT and PARLEY_OIDC_TENANT_CLAIM');
  if (config.jwtIssuer === config.oidcIssuer) problems.push('PARLEY_JWT_ISSUER and PARLEY_OIDC_ISSUER must differ: a token of the OIDC issuer is verified with its keys only');
  return problems;
}

/**
 * Where a setting's value comes from, the winning source first: its flag, its variable, its alias, else
 * its default. Every source that is set is listed, so that each is validated.
 */
function sourcesOf(name: SettingName, env: Record<string, string | undefined>, flags: Record<string, string | undefined>): Array<{ label: string; raw: string | undefined }> {
  const setting: { env: string; flag: string | undefined; default: string | undefined } = SETTINGS[name];
  const alias = ALIASES[name];
  const candidates = [
    { label: `--${setting.flag}`, raw: setting.flag ? flags[setting.flag] : undefined },
    { label: setting.env, raw: emptyAsUndefined(env[setting.env]) },
    { label: alias ?? '', raw: alias ? emptyAsUndefined(env[alias]) : undefined },
  ].filter((source) => source.raw !== undefined);
  return candidates.length > 0 ? candidates : [{ label: setting.env, raw: setting.default }];
}

// Read by the CLI's clients, the README's examples and the tests, not by the server: never a misspelt setting.
const CLIENT_VARIABLES = new Set(['PARLEY_ADMIN_KEY', 'PARLEY_API_KEY', 'PARLEY_URL', 'PARLEY_HTTP_URL', 'PARLEY_WEBHOOK_SECRET', 'PARLEY_TEST_PGLITE_TEMPLATE']);

/**
 * What is suspicious but not invalid, one line each: a PARLEY_* variable that is no setting (a misspelling
 * would otherwise pass in silence; the closest known name is suggested), and a setting set under both its
 * names with different values.
 */
export function configWarnings(env: Record<string, string | undefined>): string[] {
  const known = [...Object.values(SETTINGS).map((setting) => setting.env), ...Object.values(ALIASES)].filter((name) => name.startsWith('PARLEY_'));
  const warnings = Object.keys(env)
    .filter((name) => name.startsWith('PARLEY_') && !known.includes(name) && !CLIENT_VARIABLES.has(name))
    .sort()
    .map((name) => `unknown setting ${name} is ignored (did you mean ${closest(name, known)}? \`parley config\` lists every setting)`);
  for (const [name, alias] of Object.entries(ALIASES) as Array<[SettingName, string]>) {
    const own = emptyAsUndefined(env[SETTINGS[name].env]);
    const other = emptyAsUndefined(env[alias]);
    if (own !== undefined && other !== undefined && own !== other) {
      warnings.push(`${SETTINGS[name].env}=${own} and ${alias}=${other} are both set: ${SETTINGS[name].env} wins`);
    }
  }
  return warnings;
}

function emptyAsUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Flags the CLI accepts, for node:util parseArgs. */
export function configFlags(): Record<string, { type: 'string' }> {
  const flags: Record<string, { type: 'string' }> = {};
  for (const setting of Object.values(SETTINGS)) if (setting.flag) flags[setting.flag] = { type: 'string' };
  return flags;
}
