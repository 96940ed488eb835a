import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { audienceOf, type KnownSignal, type Role } from '@parley/protocol';
import { createAssistants, MemoryBudgets } from '../ai/index.js';
import type { GenerationObserver } from '../ai/generation.js';
import { loadOrCreateDevSecret } from '../auth/dev-secret.js';
import { signDevelopmentToken, TokenVerifier, type OidcIssuerOptions } from '../auth/tokens.js';
import { MemoryBus } from '../adapters/memory/bus.js';
import { MemoryPresence } from '../adapters/memory/presence.js';
import { RedisBus } from '../adapters/redis/bus.js';
import { MemoryApprovalRegistry } from '../adapters/memory/approval-registry.js';
import { MemoryContextArchive } from '../adapters/memory/context-archive.js';
import { MemoryJobQueue } from '../adapters/memory/job-queue.js';
import { MemoryUserRateLimits } from '../adapters/memory/user-rate-limits.js';
import { MemoryGenerationTexts } from '../adapters/memory/generation-texts.js';
import { RedisGenerationTexts } from '../adapters/redis/generation-texts.js';
import { RedisApprovalRegistry } from '../adapters/redis/approval-registry.js';
import { RedisBudgets } from '../adapters/redis/budgets.js';
import { RedisContextArchive } from '../adapters/redis/context-archive.js';
import { RedisJobQueue } from '../adapters/redis/job-queue.js';
import { RedisUserRateLimits } from '../adapters/redis/user-rate-limits.js';
import { RedisPresence } from '../adapters/redis/presence.js';
import type { ApprovalRegistry, Bus, ContextArchive, FileStorage, GenerationTexts, JobQueue, Presence, UsageBudgets, UserRateLimits } from '../core/ports.js';
import type { ConversationKey } from '../core/types.js';
import { isAiJob } from '../core/job-queue.js';
import type { Config } from '../config/config.js';
import { ParleyError, toParleyError } from '../core/errors.js';
import { Gateway } from '../gateway/gateway.js';
import { AI_SDK_WEBSOCKET_PATH, AiSdkChats, AiSdkWebSocket, aiSdkHttpRoutes } from '../gateway/ai-sdk/index.js';
import { ConnectionAdmission } from '../gateway/admission.js';
import { Hub } from '../gateway/hub.js';
import { ExpiryClock } from '../gateway/expiry-clock.js';
import { PresenceDepartures } from '../gateway/presence-departures.js';
import { UserConnections } from '../gateway/user-connections.js';
import { Readiness, type Dependency } from '../http/readiness.js';
import { registerOperationalRoutes, type WebSignIn } from '../http/routes.js';
import { createApi } from '../http/api/index.js';
import type { TokenMinter } from '../http/api/users.js';
import { registerWidgetRoutes } from '../http/widget.js';
import { registerRealtimeRoutes } from '../http/realtime.js';
import { WidgetKeys, WidgetTokens } from '../widget/index.js';
import { httpListener, registerApiDocs } from '../http/server.js';
import { ApiKeys } from '../auth/api-keys.js';
import { PostgresKeyStore } from '../store/postgres/key-store.js';
import { PostgresWidgetStore } from '../store/postgres/widget-store.js';
import { PostgresAttachmentStore } from '../store/postgres/attachment-store.js';
import { DiskFileStorage } from '../adapters/disk/file-storage.js';
import { S3FileStorage } from '../adapters/s3/file-storage.js';
import { FileUrls } from '../auth/file-urls.js';
import { AttachmentService, type AttachmentLimits } from '../conversations/attachments.js';
import { PostgresKnowledgeStore } from '../store/postgres/knowledge-store.js';
import { indexingRunner, isIndexingJob, KnowledgeBaseService, OpenAiCompatibleEmbedder, type IndexingJob } from '../kb/index.js';
import { ConversationLog } from '../log/conversation-log.js';
import { OutboundHttp } from '../net/outbound-http.js';
import { OutboundPolicy } from '../net/outbound-policy.js';
import type { Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { startTracing, type TracingPipeline } from '../observability/tracing-sdk.js';
import { ReactionRunner } from '../reactions/runner.js';
import { WebhookReaction, WebhookService, WebhookWorker } from '../webhooks/index.js';
import { Router } from '../support/router.js';
import { SupportService } from '../support/service.js';
import { TriggersReaction } from '../support/triggers.js';
import type { Orchestrator } from '../ai/orchestrator.js';
import { openPostgresStore } from '../store/postgres/open.js';
import { DataDirLock } from './data-dir-lock.js';
import { PostgresReactionCursors } from '../store/postgres/reaction-cursors.js';
import type { PostgresStore, StoreOptions } from '../store/postgres/store.js';
import { ConversationService } from '../conversations/service.js';

export const SERVER_VERSION = '0.1.0';
// The web UI built by packages/web, next to this package in the repository.
const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../../web/dist', import.meta.url));
// Generation contexts kept for inspection: this many on one node, this long with Redis.
const KEPT_CONTEXTS = 1000;
const CONTEXT_TTL_MS = 60 * 60_000;
// The text of a running generation outlives its last delta this long (its node may have died).
const GENERATION_TEXT_TTL_MS = 5 * 60_000;
// How long an out-of-order event waits for its predecessors before the gap is read from the log.
const GAP_HOLD_MS = 50;
// Responses one AI SDK WebSocket may stream at once (the stock transport opens one per chat request).
const AI_SDK_MAX_OPEN_REQUESTS = 16;
// Reactions: events per `handle` call, conversations one sweep marks, and the retry backoff after a failed `handle`.
const REACTION_PAGE_SIZE = 100;
const REACTION_SWEEP_LIMIT = 1000;
const REACTION_RETRY_BASE_MS = 500;
const REACTION_RETRY_MAX_MS = 60_000;

/** A running Parley node. */
export interface ParleyNode {
  /** This process's node id: the prefix of the HTTP transport sessions it holds, and its topic on the bus. */
  readonly nodeId: string;
  readonly port: number;
  readonly server: Server;
  /** Graceful stop: drain the gateway, close the HTTP server, the bus and the store. */
  stop(): Promise<void>;
}

/** A dependency the configuration names cannot be used (PostgreSQL at DATABASE_URL): the message says which and why, in one line. */
export class DependencyError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'DependencyError';
  }
}

/**
 * Opens the store the configuration names (PostgreSQL at DATABASE_URL, else embedded PGlite) and migrates
 * it. A PostgreSQL that cannot be reached within PARLEY_DATABASE_CONNECT_TIMEOUT_MS is a DependencyError.
 */
export async function openStore(config: Config): Promise<PostgresStore> {
  const store = config.databaseUrl ? await openPostgres(config, config.databaseUrl) : await openPostgresStore({ kind: 'pglite', dataDir: join(config.dataDir, 'pglite') }, storeOptions(config));
  await store.migrate();
  return store;
}

async function openPostgres(config: Config, url: string): Promise<PostgresStore> {
  try {
    return await openPostgresStore({ kind: 'postgres', url, poolSize: config.databasePoolSize, connectTimeoutMs: config.databaseConnectTimeoutMs, ...(config.databaseSchema ? { schema: config.databaseSchema } : {}) }, storeOptions(config));
  } catch (error) {
    if (!(error instanceof ParleyError)) throw error;
    throw new DependencyError(`cannot connect to the PostgreSQL at DATABASE_URL (${withoutPassword(url)}): ${error.message}`, { cause: error });
  }
}

/** The URL with its password masked, for messages and logs. */
function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

function storeOptions(config: Config): StoreOptions {
  return { largeRoomMembers: config.largeRoomMembers };
}

/** The HS256 secret: configured, or the development one in the data directory. */
export async function resolveSecret(config: Config, logger?: Logger): Promise<Uint8Array | undefined> {
  if (config.jwtSecret) return new TextEncoder().encode(config.jwtSecret);
  // An identity provider is configured: no development secret, so no development tokens either.
  if (config.jwksFile || config.jwksUrl || config.oidcIssuer) return undefined;
  logger?.warn({ dataDir: config.dataDir }, 'no PARLEY_JWT_SECRET or JWKS configured: using the development secret in the data directory');
  return loadOrCreateDevSecret(config.dataDir);
}

/** The in-memory bus of one process, or Redis shared by several nodes (PARLEY_REDIS_URL). */
interface SharedState {
  bus: Bus;
  texts: GenerationTexts;
  presence: Presence;
  budgets: UsageBudgets;
  approvalRegistry: ApprovalRegistry;
  contexts: ContextArchive;
  queue: JobQueue;
  /** Indexing jobs of the knowledge base. */
  indexingQueue: JobQueue<IndexingJob>;
  userSendRates: UserRateLimits;
  /** Widget tokens minted per widget key, and per client address. */
  widgetKeyRates: UserRateLimits;
  widgetAddressRates: UserRateLimits;
}

function openBus(config: Config, onError: (error: unknown) => void): SharedState {
  const queueLimits = { maxQueued: config.aiQueueSize, concurrency: config.aiConcurrency, perTenantConcurrency: config.aiTenantConcurrency };
  const budgetLimits = { windowMs: config.aiBudgetWindowSeconds * 1000, requests: config.aiBudgetRequests, tokens: config.aiBudgetTokens };
  // A bucket the size of a minute's allowance, refilled evenly over the minute.
  const perKey = [config.widgetTokensPerKeyPerMinute / 60, config.widgetTokensPerKeyPerMinute] as const;
  const perAddress = [config.widgetTokensPerAddressPerMinute / 60, config.widgetTokensPerAddressPerMinute] as const;
  if (!config.redisUrl) {
    return {
      bus: new MemoryBus(config.hotLogSize, config.hotLogMaxBytes),
      texts: new MemoryGenerationTexts(),
      presence: new MemoryPresence(),
      budgets: new MemoryBudgets(budgetLimits),
      approvalRegistry: new MemoryApprovalRegistry(),
      contexts: new MemoryContextArchive(KEPT_CONTEXTS),
      queue: new MemoryJobQueue(queueLimits, onError),
      indexingQueue: new MemoryJobQueue<IndexingJob>(INDEXING_QUEUE_LIMITS, onError),
      userSendRates: new MemoryUserRateLimits(config.userSendRatePerSecond, config.userSendBurst),
      widgetKeyRates: new MemoryUserRateLimits(...perKey),
      widgetAddressRates: new MemoryUserRateLimits(...perAddress),
    };
  }
  const bus = new RedisBus({ url: config.redisUrl, prefix: config.redisPrefix, hotLogSize: config.hotLogSize, hotLogTtlMs: config.hotLogTtlSeconds * 1000 });
  return {
    bus,
    texts: new RedisGenerationTexts(bus.connection, config.redisPrefix, GENERATION_TEXT_TTL_MS),
    presence: new RedisPresence(bus.connection, config.redisPrefix, config.presenceTtlSeconds * 1000),
    budgets: new RedisBudgets(bus.connection, config.redisPrefix, budgetLimits),
    approvalRegistry: new RedisApprovalRegistry(bus.connection, config.redisPrefix),
    contexts: new RedisContextArchive(bus.connection, config.redisPrefix, CONTEXT_TTL_MS),
    queue: new RedisJobQueue(bus.connection, { ...queueLimits, prefix: config.redisPrefix, visibilityMs: config.aiJobVisibilityMs, isJob: isAiJob }, onError),
    indexingQueue: new RedisJobQueue<IndexingJob>(bus.connection, { ...INDEXING_QUEUE_LIMITS, prefix: `${config.redisPrefix}:kb`, visibilityMs: INDEXING_VISIBILITY_MS, isJob: isIndexingJob }, onError),
    userSendRates: new RedisUserRateLimits(bus.connection, config.redisPrefix, config.userSendRatePerSecond, config.userSendBurst),
    widgetKeyRates: new RedisUserRateLimits(bus.connection, `${config.redisPrefix}:widget-key`, ...perKey),
    widgetAddressRates: new RedisUserRateLimits(bus.connection, `${config.redisPrefix}:widget-address`, ...perAddress),
  };
}

/** Bounds of the indexing queue: documents wait in their thousands, and indexing must not take every core from answers. */
const INDEXING_QUEUE_LIMITS = { maxQueued: 10_000, concurrency: 2, perTenantConcurrency: 1 };
// A document's indexing (its embedding calls) renews its job; a dead worker's job is taken over after this.
const INDEXING_VISIBILITY_MS = 60_000;

/** The knowledge base over the store and the indexing queue, with an embedding model when one is configured. */
function openKnowledgeBase(config: Config, store: PostgresStore, queue: JobQueue<IndexingJob>) {
  const knowledgeStore = new PostgresKnowledgeStore(store.database);
  const embedder = config.embeddingsBaseUrl
    ? new OpenAiCompatibleEmbedder({ baseUrl: config.embeddingsBaseUrl, apiKey: config.embeddingsApiKey, model: config.embeddingsModel ?? 'text-embedding-3-small' })
    : undefined;
  return {
    service: new KnowledgeBaseService({ store: knowledgeStore, queue, embedder, limits: { maxDocumentBytes: config.kbMaxDocumentBytes, maxDocuments: config.kbMaxDocuments } }),
    runner: indexingRunner({ store: knowledgeStore, embedder }),
  };
}

function aiObserver(metrics: Metrics, logger: Logger): GenerationObserver {
  return {
    memoryFailed: (error) => logger.warn({ err: error }, 'conversation memory refresh failed'),
    invalidEvent: (error) => logger.error({ err: error }, 'a stored event does not match the event catalogue; left out of the context'),
    knowledgeFailed: (error) => logger.warn({ err: error }, 'knowledge-base search failed; answered without passages'),
    firstToken: (seconds, model) => metrics.aiTimeToFirstToken.observe({ model }, seconds),
    finished: (outcome, seconds, outputTokens) => {
      logger.debug({ outcome, seconds, outputTokens }, 'generation finished');
      metrics.aiOutcomes.inc({ outcome });
      metrics.aiGenerationDuration.observe({ outcome }, seconds);
      if (seconds > 0 && outputTokens > 0) metrics.aiTokensPerSecond.observe(outputTokens / seconds);
    },
    toolCalled: (tool, seconds) => metrics.aiToolDuration.observe({ tool }, seconds),
    attemptFailed: (model) => metrics.aiAttemptFailures.inc({ model }),
    queued: (seconds) => metrics.aiQueueWait.observe(seconds),
  };
}

/** What readiness checks: the store (the node is unready without it) and Redis when configured (shown, never unready). */
function dependencies(store: PostgresStore, bus: Bus): Dependency[] {
  const checked: Dependency[] = [{ name: 'store', required: true, check: () => store.ping() }];
  if (bus instanceof RedisBus) checked.push({ name: 'redis', required: false, check: () => bus.check() });
  return checked;
}

/**
 * The reaction runner of this node. Every node knows every reaction; which ones it runs depends on its
 * role (see `startServices`), and it wakes the nodes running the others when it commits an event.
 */
function reactionRunner(config: Config, store: PostgresStore, bus: Bus, metrics: Metrics, logger: Logger): ReactionRunner {
  const settings = {
    leaseMs: config.reactionLeaseMs,
    pageSize: REACTION_PAGE_SIZE,
    concurrency: config.reactionConcurrency,
    retryBaseMs: REACTION_RETRY_BASE_MS,
    retryMaxMs: REACTION_RETRY_MAX_MS,
    sweepIntervalMs: config.reactionSweepMs,
    lookbackMs: config.reactionLookbackMs,
    sweepLimit: REACTION_SWEEP_LIMIT,
  };
  const runner = new ReactionRunner(new PostgresReactionCursors(store.database), bus, settings, {
    handled: (reaction, events) => {
      metrics.reactionEventsHandled.inc({ reaction }, events.length);
      const now = Date.now();
      for (const event of events) metrics.reactionDelay.observe({ reaction }, Math.max(0, now - event.ts) / 1000);
    },
    failed: (reaction, key, error, retryInMs) => {
      metrics.reactionFailures.inc({ reaction });
      logger.warn({ err: error, reaction, tenant: key.tenant, conversation: key.conversationId, retryInMs }, 'reaction failed; retrying later');
    },
    storeFailed: (reaction, error) => logger.warn({ err: error, reaction }, 'reaction cursor unavailable; the sweep finds the work again'),
    sweepFailed: (reaction, error) => logger.warn({ err: error, reaction }, 'reaction sweep or wake failed'),
  });
  metrics.watchReactions(() => runner.backlogs());
  return runner;
}

/** Webhooks of this node: the reaction (for the reaction runner), the service (for the REST routes) and the worker. */
interface NodeWebhooks {
  reaction: WebhookReaction;
  service: WebhookService;
  worker: WebhookWorker;
}

/** Wires webhooks over the store's webhook tables; the worker runs on every node (leases keep deliveries single). */
/**
 * Tells the store which agents are connected here, a few times per presence grace: an agent with no
 * connection on any node for longer than the grace counts as offline for routing.
 */
function reportConnectedAgents(gateway: Gateway, store: PostgresStore, presenceGraceMs: number, logger: Logger): ReturnType<typeof setInterval> {
  const report = async () => {
    const now = Date.now();
    for (const [tenant, userIds] of gateway.connectedStaff()) {
      await store.support.agentsSeen(tenant, userIds, now).catch((error: unknown) => logger.debug({ err: error }, 'reporting connected agents failed'));
    }
  };
  const timer = setInterval(() => void report(), Math.max(1000, Math.min(10_000, presenceGraceMs / 3)));
  timer.unref();
  return timer;
}

/** The support desk: its use cases, and the router that assigns queued conversations (on every node). */
function createSupportDesk(
  config: Config,
  parts: { log: ConversationLog; store: PostgresStore; bus: Bus; orchestrator: Orchestrator; metrics: Metrics; logger: Logger },
): { support: SupportService; router: Router } {
  const { log, store, bus, orchestrator, metrics, logger } = parts;
  const failed = (error: unknown, what: string) => logger.warn({ err: error }, `support desk: ${what} failed`);
  const router = new Router(
    store.support,
    log,
    bus,
    { acceptTimeoutMs: config.supportAcceptTimeoutMs, presenceGraceMs: config.presenceGraceMs, intervalMs: config.supportRouteIntervalMs },
    {
      assigned: (waitedMs, key) => {
        metrics.supportAssignments.inc({ kind: 'routing' });
        metrics.supportQueueWait.observe(waitedMs / 1000);
        // An answer begun while the team was closed ends here: the agent does not talk over it.
        orchestrator.stop(key, undefined, 'handoff').catch((error: unknown) => failed(error, 'stopping answers'));
      },
      requeued: (reason) => metrics.supportRequeued.inc({ reason }),
      queueDepth: (tenant, depth) => metrics.supportQueueDepth.set({ tenant }, depth),
      failed,
    },
  );
  const support = new SupportService({
    log,
    store: store.support,
    members: store,
    assistants: orchestrator,
    bus,
    summarizer: orchestrator.summaries,
    observer: {
      handoff: (reason) => metrics.supportHandoffs.inc({ reason }),
      assigned: (kind, waitedMs) => {
        metrics.supportAssignments.inc({ kind });
        if (waitedMs > 0) metrics.supportQueueWait.observe(waitedMs / 1000);
      },
      rated: (rating) => metrics.supportRatings.inc({ rating: String(rating) }),
      failed,
    },
    wakeRouting: (tenant) => router.wake(tenant),
  });
  // Outside a team's business hours the assistant keeps answering its queued conversations.
  orchestrator.queueClosedUntil = (conversation) => support.closedUntil(conversation);
  orchestrator.onHandoff = async (key, profileId, detail) => {
    try {
      await support.requestHandoff(key, { actor: { kind: 'assistant', id: profileId }, reason: 'tool', origin: 'assistant', detail });
    } catch (error) {
      // Handed off already (a content rule on the same message, say).
      if (!(error instanceof ParleyError && error.code === 'conflict')) throw error;
    }
  };
  return { support, router };
}

function createWebhooks(config: Config, store: PostgresStore, outbound: OutboundHttp, metrics: Metrics, logger: Logger): NodeWebhooks {
  const worker = new WebhookWorker({
    store: store.webhooks,
    outbound,
    concurrency: config.webhookConcurrency,
    perEndpoint: config.webhookEndpointConcurrency,
    timeoutMs: config.webhookTimeoutMs,
    retryWindowMs: config.webhookRetryHours * 3_600_000,
    retryBaseMs: config.webhookRetryBaseMs,
    observer: {
      attempted: (outcome, seconds) => {
        metrics.webhookAttempts.inc({ outcome });
        metrics.webhookAttemptDuration.observe({ outcome }, seconds);
      },
      endpointDisabled: (endpointId, reason) => {
        metrics.webhookEndpointsDisabled.inc();
        logger.warn({ endpointId, reason }, 'webhook endpoint disabled');
      },
      failed: (error) => logger.warn({ err: error }, 'webhook worker: store operation failed'),
    },
  });
  metrics.watchWebhooks(() => store.webhooks.pendingStats());
  return {
    reaction: new WebhookReaction({ store: store.webhooks, audience: audienceOf, enqueued: () => worker.wake() }),
    service: new WebhookService({ store: store.webhooks, policy: outbound.policy, redelivered: () => worker.wake() }),
    worker,
  };
}

/** The defined entries of `values` (optional settings stay absent rather than undefined). */
function optional<T extends Record<string, string | undefined>>(values: T): Partial<Record<keyof T, string>> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<Record<keyof T, string>>;
}

/** Composition root: config -> adapters -> gateway and HTTP, listening. */
export async function startNode(config: Config, logger: Logger): Promise<ParleyNode> {
  // The embedded database belongs to this process alone; CLI commands reach it through this server.
  const lock = config.databaseUrl ? null : await DataDirLock.acquire(config.dataDir, 'server');
  const tracing = config.otel === 'on' ? startTracing({ serviceVersion: SERVER_VERSION, role: config.role, logger }) : null;
  try {
    const node = await startServices(config, logger, tracing);
    await lock?.listening(`http://${localHost(config.host)}:${node.port}`);
    return {
      ...node,
      stop: async () => {
        await node.stop();
        await lock?.release();
      },
    };
  } catch (error) {
    await tracing?.shutdown().catch(() => undefined);
    await lock?.release();
    throw error;
  }
}

/** The OIDC issuer of the agent console's sign-in and how its ID tokens map to principals. */
function oidcIssuerOptions(config: Config, issuer: string, clientId: string): OidcIssuerOptions {
  return {
    issuer,
    clientId,
    userClaim: config.oidcUserClaim,
    rolesClaim: config.oidcRolesClaim,
    ...(config.oidcRoleMap ? { roleMap: config.oidcRoleMap } : {}),
    ...(config.oidcDefaultRole !== 'none' ? { defaultRole: config.oidcDefaultRole } : {}),
    tenant: config.oidcTenant ? { fixed: config.oidcTenant } : { claim: config.oidcTenantClaim! },
  };
}

/** How the web pages sign people in: the OIDC issuer, else development tokens when the server issues them. */
function webSignIn(config: Config, developmentTokens: boolean): WebSignIn {
  if (config.oidcIssuer && config.oidcClientId) return { mode: 'oidc', issuer: config.oidcIssuer, clientId: config.oidcClientId, scopes: config.oidcScopes };
  return { mode: developmentTokens ? 'development' : 'none' };
}

/** A node id, new for every process: a restarted node holds none of the sessions of its previous run. */
function newNodeId(): string {
  return randomBytes(6).toString('base64url');
}

/** Where attachment bytes live: files under the data directory, or an S3-compatible bucket. */
function openFileStorage(config: Config): DiskFileStorage | S3FileStorage {
  if (config.storage === 'disk') return new DiskFileStorage(join(config.dataDir, 'files'));
  return new S3FileStorage({
    bucket: config.s3Bucket!,
    region: config.s3Region,
    forcePathStyle: config.s3ForcePathStyle,
    ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
    ...(config.s3AccessKeyId && config.s3SecretAccessKey ? { credentials: { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey } } : {}),
  });
}

/** The key that signs attachment URLs: configured, else derived from the token secret (so every node shares it), else random. */
function fileUrlKey(config: Config, secret: Uint8Array | undefined, logger: Logger): Uint8Array {
  if (config.fileUrlSecret) return Buffer.from(config.fileUrlSecret);
  // Derived rather than the token secret itself: a file URL's signature must never double as a token's.
  if (secret) return createHmac('sha256', secret).update('parley attachment urls').digest();
  logger.warn('no PARLEY_FILE_URL_SECRET or JWT secret: attachment URLs are signed with a random key and work only on this node until it restarts');
  return randomBytes(32);
}

/** A ready attachment's bytes and sniffed type (for the model), or null. */
async function readAttachment(attachments: PostgresAttachmentStore, storage: FileStorage, key: ConversationKey, attachmentId: string): Promise<{ bytes: Uint8Array; contentType: string } | null> {
  const record = await attachments.get(key.tenant, key.conversationId, attachmentId);
  const body = record?.state === 'ready' ? await storage.read(record.storageKey) : null;
  return body && record ? { bytes: new Uint8Array(await new Response(body).arrayBuffer()), contentType: record.contentType } : null;
}

/** Each tenant's attachment limits: its PARLEY_ATTACHMENT_LIMITS entry over the defaults. */
function attachmentLimits(config: Config): (tenant: string) => AttachmentLimits {
  return (tenant) => {
    const own = config.attachmentLimits[tenant];
    return { maxBytes: own?.maxBytes ?? config.attachmentMaxBytes, types: own?.types ?? config.attachmentTypes };
  };
}

/** The address a local client reaches a server on that listens on `host`. */
function localHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Everything but tracing, which starts first so that the rest is traced from its start. */
async function startServices(config: Config, logger: Logger, tracing: TracingPipeline | null): Promise<ParleyNode> {
  const metrics = new Metrics();
  const store = await openStore(config);
  // A dependency that is down (Redis, PostgreSQL) is reported by /readyz and the metrics, and the request that
  // met it was refused as unavailable: a warning, not an error; anything else is a bug worth an error.
  const onAiError = (error: unknown) => {
    if (toParleyError(error).code === 'unavailable') logger.warn({ err: error }, 'AI job step failed: a dependency is unavailable');
    else logger.error({ err: error }, 'AI job failed');
  };
  const { bus, texts, presence, budgets, approvalRegistry, contexts, queue, indexingQueue, userSendRates, widgetKeyRates, widgetAddressRates } = openBus(config, onAiError);
  const knowledge = openKnowledgeBase(config, store, indexingQueue);
  const secret = await resolveSecret(config, logger);
  const verifier = await TokenVerifier.create({
    ...(secret ? { secret } : {}),
    ...(config.jwksFile ? { jwks: { file: config.jwksFile } } : config.jwksUrl ? { jwks: { url: config.jwksUrl } } : {}),
    ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { audience: config.jwtAudience } : {}),
    ...(config.oidcIssuer && config.oidcClientId ? { oidc: oidcIssuerOptions(config, config.oidcIssuer, config.oidcClientId) } : {}),
    clockToleranceSeconds: config.clockToleranceSeconds,
  });
  const hub = new Hub(bus, { busSubscribeFailed: (error) => logger.warn({ err: error }, 'bus subscribe failed; retrying, subscribers are served from the store meanwhile') });
  const reactions = reactionRunner(config, store, bus, metrics, logger);
  const log = new ConversationLog(store, bus, {
    committed: (event) => reactions.committed(event),
    appended: (event, seconds) => {
      metrics.eventsAppended.inc({ type: event.type });
      metrics.appendDuration.observe(seconds);
    },
    publishFailed: (event, error) => {
      // Its subscribers on this node still get it live (Redis down: only other nodes' wait for its return).
      hub.deliverLocally(event);
      metrics.publishFailures.inc();
      logger.warn({ err: error, conversation: event.conversation, seq: event.seq }, 'publish failed after commit');
    },
  });
  // Calls to URLs that tenants configure (tool and context webhooks, webhooks) reach private addresses only if allowed.
  const outbound = new OutboundHttp(new OutboundPolicy(config.outboundAllow ?? []));
  const webhooks = createWebhooks(config, store, outbound, metrics, logger);
  const attachmentStore = new PostgresAttachmentStore(store.database);
  const fileStorage = openFileStorage(config);
  const orchestrator = await createAssistants({
    ...(config.assistantsFile ? { assistantsFile: config.assistantsFile } : {}),
    ...optional({ llmBaseUrl: config.llmBaseUrl, llmApiKey: config.llmApiKey, llmModel: config.llmModel, anthropicApiKey: config.anthropicApiKey, anthropicModel: config.anthropicModel }),
    demoTtftMs: config.demoTtftMs,
    demoTokensPerSecond: config.demoTokensPerSecond,
    demoAnswerTokens: config.demoAnswerTokens,
    queue,
    budgets,
    log,
    texts,
    approvalRegistry,
    contexts,
    control: bus,
    outbound,
    attachmentBytes: (key, attachmentId) => readAttachment(attachmentStore, fileStorage, key, attachmentId),
    knowledge: knowledge.service,
    publishDelta: (key, delta) => {
      const signal: KnownSignal<'ai.delta'> = { tenant: key.tenant, conversation: key.conversationId, type: 'ai.delta', ts: Date.now(), actor: { kind: 'assistant', id: delta.generationId }, data: delta };
      bus.publishSignal(signal).catch((error: unknown) => logger.warn({ err: error }, 'delta publish failed'));
    },
    observer: aiObserver(metrics, logger),
    onError: onAiError,
  });
  metrics.watchAiQueue(() => queue.stats());
  // Answers are submitted on every role: a gateway takes the reservations it admitted itself, right after
  // the commit (no bus hop before the answer starts), and workers pick up what a dead node left. Further
  // reactions (webhooks) are added here; one meant for workers only gets `runsHere: config.role !== 'gateway'`.
  reactions.add(orchestrator.reaction, { runsHere: true });
  // Workers record webhook deliveries (the worker that sends them runs on every node; leases keep each single).
  reactions.add(webhooks.reaction, { runsHere: config.role !== 'gateway' });
  const servesClients = config.role !== 'worker';
  const { support, router } = createSupportDesk(config, { log, store, bus, orchestrator, metrics, logger });
  // Customers' messages read for handoff rules, sentiment and failed answers, on every node (as answers are).
  const modelSentiment = { classify: orchestrator.sentiment.classify, failed: (error: unknown, profileId: string) => logger.warn({ err: error, profile: profileId }, 'sentiment model failed; read lexically') };
  reactions.add(new TriggersReaction(log, orchestrator, support, modelSentiment), { runsHere: true });
  const conversations = new ConversationService(
    { log, members: store, bus, presence, assistants: orchestrator, sendRates: userSendRates, agentTeams: (tenant, userId) => support.agentTeams(tenant, userId), attachments: attachmentStore },
    { largeRoomMembers: config.largeRoomMembers },
  );
  const attachments = new AttachmentService({
    conversations,
    store: attachmentStore,
    storage: fileStorage,
    urls: new FileUrls(fileUrlKey(config, secret, logger), config.attachmentUrlTtlSeconds * 1000),
    limitsOf: attachmentLimits(config),
    uploadTtlSeconds: config.attachmentUrlTtlSeconds,
  });
  const gateway = new Gateway({
    conversations,
    log,
    bus,
    presence,
    userSendRates,
    assistants: orchestrator,
    support,
    hub,
    departures: new PresenceDepartures(config.presenceGraceMs),
    tokenExpiries: new ExpiryClock(),
    verifier,
    metrics,
    logger,
    users: new UserConnections(),
    serverVersion: SERVER_VERSION,
    gapHoldMs: GAP_HOLD_MS,
    limits: {
      maxFrameBytes: config.maxFrameBytes,
      connectTimeoutMs: config.connectTimeoutMs,
      ratePerSecond: config.ratePerSecond,
      rateBurst: config.rateBurst,
      maxPendingRequests: config.maxPendingRequests,
      maxConnectionsPerUser: config.maxConnectionsPerUser,
      pingIntervalMs: config.pingIntervalMs,
      maxBufferedBytes: config.maxBufferedBytes,
      presenceRefreshMs: (config.presenceTtlSeconds * 1000) / 3,
    },
  });
  const readiness = new Readiness(dependencies(store, bus), () => gateway.isDraining);
  metrics.watchDependencies(() => readiness.states());
  const devSecret = secret && !config.jwtSecret ? secret : undefined;
  const signToken = secret ? (claims: Parameters<TokenMinter>[0]) => signDevelopmentToken(secret, { ...claims, ...optional({ issuer: config.jwtIssuer, audience: config.jwtAudience }) }) : undefined;
  const widgetStore = new PostgresWidgetStore(store.database);
  const api = createApi({
    conversations,
    attachments,
    webhooks: webhooks.service,
    support,
    keys: new ApiKeys(new PostgresKeyStore(store.database), bus),
    verifier,
    logger,
    maxBodyBytes: config.apiMaxBodyBytes,
    serverVersion: SERVER_VERSION,
    widgets: new WidgetKeys(widgetStore),
    knowledge: knowledge.service,
    ...(signToken ? { mintToken: signToken } : {}),
  });
  registerApiDocs(api);
  if (servesClients) {
    const tokens = new WidgetTokens(widgetStore, { perKey: widgetKeyRates, perAddress: widgetAddressRates, tokenTtlSeconds: config.widgetTokenTtlSeconds, sign: signToken });
    registerWidgetRoutes(api, { tokens, webRoot: config.webDir ?? DEFAULT_WEB_ROOT });
  }
  // The AI SDK dialect (useChat's transports) on the same conversations, log and hub as the gateway.
  if (!orchestrator.hasProfile(config.aiSdkAssistant)) logger.warn({ assistant: config.aiSdkAssistant }, 'PARLEY_AI_SDK_ASSISTANT names no assistant profile: AI SDK chats must name one (body.assistant)');
  const aiSdkChats = new AiSdkChats({ conversations, verifier, log, hub, assistants: orchestrator, logger, gapHoldMs: GAP_HOLD_MS, defaultAssistant: config.aiSdkAssistant });
  // One origin allowlist, per-IP count and refusal while draining for every transport of the node.
  const admission = new ConnectionAdmission({ allowedOrigins: config.allowedOrigins, maxConnectionsPerIp: config.maxConnectionsPerIp, isDraining: () => gateway.isDraining });
  const aiSdkWebSocket = new AiSdkWebSocket(aiSdkChats, admission, {
    maxFrameBytes: config.apiMaxBodyBytes,
    maxOpenRequests: AI_SDK_MAX_OPEN_REQUESTS,
    pingIntervalMs: config.pingIntervalMs,
    pingTimeoutMs: config.pingTimeoutMs,
    observer: { opened: () => metrics.connectionsOpen.inc({ transport: 'ai-sdk-websocket' }), closed: () => metrics.connectionsOpen.dec({ transport: 'ai-sdk-websocket' }) },
  });
  if (servesClients) {
    api.route('/', aiSdkHttpRoutes(aiSdkChats, { allowedOrigins: config.allowedOrigins, maxBodyBytes: config.apiMaxBodyBytes, pingIntervalMs: config.pingIntervalMs, isDraining: () => gateway.isDraining }));
  }
  registerOperationalRoutes(api, {
    registry: metrics.registry,
    readiness,
    imageHosts: config.imageHosts,
    ...(servesClients ? { webRoot: config.webDir ?? DEFAULT_WEB_ROOT } : {}),
    webSignIn: webSignIn(config, devSecret !== undefined && servesClients),
    verifyToken: (token) => verifier.verify(token),
    ...(devSecret && servesClients ? { issueDevToken: (claims: { tenant: string; userId: string; roles: Role[]; name?: string }) => signDevelopmentToken(devSecret, { ...claims, ttlSeconds: 3600 }) } : {}),
  });
  const server = createServer(httpListener(api));
  const nodeId = newNodeId();
  try {
    if (servesClients) {
      const realtime = await gateway.listen(server, {
        nodeId,
        admission,
        maxFrameBytes: config.maxFrameBytes,
        pingIntervalMs: config.pingIntervalMs,
        pingTimeoutMs: config.pingTimeoutMs,
        deflateThresholdBytes: config.wsDeflate,
        sessionTimeoutMs: config.rtSessionTimeoutMs,
        pollTimeoutMs: config.rtPollTimeoutMs,
        forwardTimeoutMs: config.rtForwardTimeoutMs,
        otherEndpoints: new Map([[AI_SDK_WEBSOCKET_PATH, (request, socket, head) => aiSdkWebSocket.upgrade(request, socket, head)]]),
      });
      // Before the first request: the route table is fixed once it has routed one.
      registerRealtimeRoutes(api, realtime, { maxBodyBytes: config.apiMaxBodyBytes });
    }
    await reactions.start();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: config.port, host: config.host, backlog: config.listenBacklog }, resolve);
    });
  } catch (error) {
    await gateway.shutdown(0);
    await reactions.stop(0);
    await queue.close();
    await indexingQueue.close();
    await bus.close();
    await store.close();
    throw error;
  }
  if (config.role !== 'gateway') orchestrator.work();
  if (config.role !== 'gateway') {
    indexingQueue.work(knowledge.runner);
    // Jobs of documents added before a restart are gone from an in-process queue: queue them again.
    knowledge.service.resumeIndexing().then(
      (count) => count > 0 && logger.info({ documents: count }, 'knowledge-base indexing resumed'),
      (error: unknown) => logger.warn({ err: error }, 'resuming knowledge-base indexing failed'),
    );
  }
  webhooks.worker.start();
  router.start();
  const agentsSeen = servesClients ? reportConnectedAgents(gateway, store, config.presenceGraceMs, logger) : null;
  const port = (server.address() as AddressInfo).port;
  return {
    nodeId,
    port,
    server,
    stop: async () => {
      if (agentsSeen) clearInterval(agentsSeen);
      await router.stop();
      await gateway.shutdown(config.shutdownGraceMs);
      aiSdkWebSocket.close();
      // The gateway's last commits are handed to their reactions (or left for another node's sweep).
      await reactions.stop(config.shutdownGraceMs);
      // Running answers end with a terminal event (ai.stopped) before the store closes.
      await orchestrator.shutdown();
      await queue.close();
      await indexingQueue.close();
      await webhooks.worker.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive and stray sockets must not hold shutdown up: cut what is left after a moment.
      const deadline = setTimeout(() => server.closeAllConnections(), 1000);
      await closed;
      clearTimeout(deadline);
      outbound.close();
      if (fileStorage instanceof S3FileStorage) fileStorage.close();
      await bus.close();
      await store.close();
      // Last: the spans of everything above are exported before the process exits.
      await tracing?.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'trace export at shutdown failed'));
    },
  };
}
