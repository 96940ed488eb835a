import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAssistants, MemoryBudgets } from '../ai/index.js';
import type { GenerationObserver } from '../ai/generation.js';
import { loadOrCreateDevSecret } from '../auth/dev-secret.js';
import { signDevelopmentToken, TokenVerifier } from '../auth/tokens.js';
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
import type { ApprovalRegistry, Bus, ContextArchive, GenerationTexts, JobQueue, Presence, UsageBudgets, UserRateLimits } from '../core/ports.js';
import type { Config } from '../config/config.js';
import { Gateway } from '../gateway/gateway.js';
import { Hub } from '../gateway/hub.js';
import { ExpiryClock } from '../gateway/expiry-clock.js';
import { PresenceDepartures } from '../gateway/presence-departures.js';
import { UserConnections } from '../gateway/services.js';
import { createRequestHandler } from '../http/routes.js';
import { ConversationLog } from '../log/conversation-log.js';
import { OutboundHttp } from '../net/outbound-http.js';
import { OutboundPolicy } from '../net/outbound-policy.js';
import type { Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { startTracing, type TracingPipeline } from '../observability/tracing-sdk.js';
import { WebhookReaction, WebhookService, WebhookWorker } from '../webhooks/index.js';
import { openPostgresStore } from '../store/postgres/open.js';
import type { PostgresStore } from '../store/postgres/store.js';

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

/** A running Parley node. */
export interface ParleyNode {
  readonly port: number;
  readonly server: Server;
  /** Graceful stop: drain the gateway, close the HTTP server, the bus and the store. */
  stop(): Promise<void>;
}

/** Opens the store the configuration names (PostgreSQL at DATABASE_URL, else embedded PGlite) and migrates it. */
export async function openStore(config: Config): Promise<PostgresStore> {
  const store = config.databaseUrl
    ? await openPostgresStore({ kind: 'postgres', url: config.databaseUrl, poolSize: config.databasePoolSize, ...(config.databaseSchema ? { schema: config.databaseSchema } : {}) })
    : await openPostgresStore({ kind: 'pglite', dataDir: join(config.dataDir, 'pglite') });
  await store.migrate();
  return store;
}

/** The HS256 secret: configured, or the development one in the data directory. */
export async function resolveSecret(config: Config, logger?: Logger): Promise<Uint8Array | undefined> {
  if (config.jwtSecret) return new TextEncoder().encode(config.jwtSecret);
  if (config.jwksFile || config.jwksUrl) return undefined;
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
  userSendRates: UserRateLimits;
}

function openBus(config: Config, onError: (error: unknown) => void): SharedState {
  const queueLimits = { maxQueued: config.aiQueueSize, concurrency: config.aiConcurrency, perTenantConcurrency: config.aiTenantConcurrency };
  const budgetLimits = { windowMs: config.aiBudgetWindowSeconds * 1000, requests: config.aiBudgetRequests, tokens: config.aiBudgetTokens };
  if (!config.redisUrl) {
    return {
      bus: new MemoryBus(config.hotLogSize, config.hotLogMaxBytes),
      texts: new MemoryGenerationTexts(),
      presence: new MemoryPresence(),
      budgets: new MemoryBudgets(budgetLimits),
      approvalRegistry: new MemoryApprovalRegistry(),
      contexts: new MemoryContextArchive(KEPT_CONTEXTS),
      queue: new MemoryJobQueue(queueLimits, onError),
      userSendRates: new MemoryUserRateLimits(config.userSendRatePerSecond, config.userSendBurst),
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
    queue: new RedisJobQueue(bus.connection, { ...queueLimits, prefix: config.redisPrefix, visibilityMs: config.aiJobVisibilityMs }, onError),
    userSendRates: new RedisUserRateLimits(bus.connection, config.redisPrefix, config.userSendRatePerSecond, config.userSendBurst),
  };
}

function aiObserver(metrics: Metrics, logger: Logger): GenerationObserver {
  return {
    memoryFailed: (error) => logger.warn({ err: error }, 'conversation memory refresh failed'),
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

/** Webhooks of this node: the reaction (for the reaction runner), the service (for the REST routes) and the worker. */
interface NodeWebhooks {
  reaction: WebhookReaction;
  service: WebhookService;
  worker: WebhookWorker;
}

/** Wires webhooks over the store's webhook tables; the worker runs on every node (leases keep deliveries single). */
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
    reaction: new WebhookReaction({ store: store.webhooks, enqueued: () => worker.wake() }),
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
  const tracing = config.otel === 'on' ? startTracing({ serviceVersion: SERVER_VERSION, role: config.role, logger }) : null;
  try {
    return await startServices(config, logger, tracing);
  } catch (error) {
    await tracing?.shutdown().catch(() => undefined);
    throw error;
  }
}

/** Everything but tracing, which starts first so that the rest is traced from its start. */
async function startServices(config: Config, logger: Logger, tracing: TracingPipeline | null): Promise<ParleyNode> {
  const metrics = new Metrics();
  const store = await openStore(config);
  const onAiError = (error: unknown) => logger.error({ err: error }, 'AI job failed');
  const { bus, texts, presence, budgets, approvalRegistry, contexts, queue, userSendRates } = openBus(config, onAiError);
  const secret = await resolveSecret(config, logger);
  const verifier = await TokenVerifier.create({
    ...(secret ? { secret } : {}),
    ...(config.jwksFile ? { jwks: { file: config.jwksFile } } : config.jwksUrl ? { jwks: { url: config.jwksUrl } } : {}),
    ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { audience: config.jwtAudience } : {}),
    clockToleranceSeconds: config.clockToleranceSeconds,
  });
  const log = new ConversationLog(store, bus, {
    appended: (event, seconds) => {
      metrics.eventsAppended.inc({ type: event.type });
      metrics.appendDuration.observe(seconds);
    },
    publishFailed: (event, error) => {
      metrics.publishFailures.inc();
      logger.warn({ err: error, conversation: event.conversation, seq: event.seq }, 'publish failed after commit');
    },
  });
  // Calls to URLs that tenants configure (tool and context webhooks, webhooks) reach private addresses only if allowed.
  const outbound = new OutboundHttp(new OutboundPolicy(config.outboundAllow ?? []));
  const webhooks = createWebhooks(config, store, outbound, metrics, logger);
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
    publishDelta: (key, delta) => {
      const signal = { tenant: key.tenant, conversation: key.conversationId, type: 'ai.delta' as const, ts: Date.now(), actor: { kind: 'assistant' as const, id: delta.generationId }, data: delta };
      bus.publishSignal(signal).catch((error: unknown) => logger.warn({ err: error }, 'delta publish failed'));
    },
    observer: aiObserver(metrics, logger),
    onError: onAiError,
  });
  metrics.watchAiQueue(() => queue.stats());
  const servesClients = config.role !== 'worker';
  const gateway = new Gateway({
    log,
    bus,
    presence,
    userSendRates,
    assistants: orchestrator,
    hub: new Hub(bus),
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
  const devSecret = secret && !config.jwtSecret ? secret : undefined;
  const server = createServer(
    createRequestHandler({
      registry: metrics.registry,
      checkStore: () => store.ping(),
      isDraining: () => gateway.isDraining,
      ...(servesClients ? { webRoot: config.webDir ?? DEFAULT_WEB_ROOT } : {}),
      ...(devSecret && servesClients ? { issueDevToken: (tenant: string, userId: string) => signDevelopmentToken(devSecret, { tenant, userId, roles: ['user'], ttlSeconds: 3600 }) } : {}),
    }),
  );
  if (servesClients) {
    gateway.listen(server, {
      maxFrameBytes: config.maxFrameBytes,
      allowedOrigins: config.allowedOrigins,
      maxConnectionsPerIp: config.maxConnectionsPerIp,
      pingIntervalMs: config.pingIntervalMs,
      pingTimeoutMs: config.pingTimeoutMs,
      deflateThresholdBytes: config.wsDeflate,
    });
  }
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: config.port, host: config.host, backlog: config.listenBacklog }, resolve);
    });
  } catch (error) {
    await gateway.shutdown(0);
    await queue.close();
    await bus.close();
    await store.close();
    throw error;
  }
  if (config.role !== 'gateway') orchestrator.work();
  webhooks.worker.start();
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    server,
    stop: async () => {
      await gateway.shutdown(config.shutdownGraceMs);
      // Running answers end with a terminal event (ai.stopped) before the store closes.
      await orchestrator.shutdown();
      await queue.close();
      await webhooks.worker.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive and stray sockets must not hold shutdown up: cut what is left after a moment.
      const deadline = setTimeout(() => server.closeAllConnections(), 1000);
      await closed;
      clearTimeout(deadline);
      outbound.close();
      await bus.close();
      await store.close();
      // Last: the spans of everything above are exported before the process exits.
      await tracing?.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'trace export at shutdown failed'));
    },
  };
}
