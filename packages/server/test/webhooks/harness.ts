import type { ConversationEvent } from '@parley/protocol';
import { createTestSchema, DATABASE_URL } from '../../../../test/support/postgres.js';
import type { ConversationKey } from '../../src/core/types.js';
import { OutboundHttp } from '../../src/net/outbound-http.js';
import { OutboundPolicy } from '../../src/net/outbound-policy.js';
import { openPostgresStore } from '../../src/store/postgres/open.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { WebhookReaction, WebhookService, WebhookWorker, type Audience, type WebhookWorkerOptions } from '../../src/webhooks/index.js';

/** Short settings so that retries and windows pass in milliseconds. */
export const FAST: Omit<WebhookWorkerOptions, 'store' | 'outbound'> = {
  concurrency: 16,
  perEndpoint: 4,
  timeoutMs: 300,
  retryWindowMs: 60_000,
  retryBaseMs: 20,
  retryMaxMs: 100,
  pollMs: 20,
};

/**
 * Webhooks over a fresh PostgreSQL schema: the reaction (called directly, as the reaction runner would), the
 * service, and workers, each over its own store instance (its own connection pool), like nodes of a cluster.
 */
export class WebhookHarness {
  readonly outbound = new OutboundHttp(new OutboundPolicy(['127.0.0.1']));
  readonly workers: WebhookWorker[] = [];
  readonly reaction: WebhookReaction;
  readonly service: WebhookService;
  private readonly extraStores: PostgresStore[] = [];
  private counter = 0;

  private constructor(
    readonly store: PostgresStore,
    private readonly schema: string,
    private readonly drop: () => Promise<void>,
    audience?: Audience,
  ) {
    this.reaction = new WebhookReaction({ store: store.webhooks, enqueued: () => this.wakeAll(), ...(audience ? { audience } : {}) });
    this.service = new WebhookService({ store: store.webhooks, policy: this.outbound.policy, redelivered: () => this.wakeAll() });
  }

  static async open(audience?: Audience): Promise<WebhookHarness> {
    const { schema, drop } = await createTestSchema();
    const store = await openPostgresStore({ kind: 'postgres', url: DATABASE_URL, schema, poolSize: 5 });
    await store.migrate();
    return new WebhookHarness(store, schema, drop, audience);
  }

  /** Starts a worker over a store instance of its own (another node, as far as PostgreSQL can tell). */
  async startWorker(options: Partial<WebhookWorkerOptions> = {}): Promise<WebhookWorker> {
    const store = await openPostgresStore({ kind: 'postgres', url: DATABASE_URL, schema: this.schema, poolSize: 5 });
    this.extraStores.push(store);
    const worker = new WebhookWorker({ store: store.webhooks, outbound: this.outbound, ...FAST, ...options });
    this.workers.push(worker);
    worker.start();
    return worker;
  }

  /** A new conversation of `tenant`; returns its key. */
  async conversation(tenant = 'acme'): Promise<ConversationKey> {
    const key = { tenant, conversationId: `c${++this.counter}` };
    await this.store.createConversation({ key, createdBy: 'alice', members: ['bob'], metadata: {}, assistant: null });
    return key;
  }

  /** Appends text messages and returns their events. */
  async messages(key: ConversationKey, texts: string[]): Promise<ConversationEvent[]> {
    const events: ConversationEvent[] = [];
    for (const text of texts) events.push((await this.store.append({ key, type: 'message.created', actor: { kind: 'user', id: 'alice' }, data: { content: { type: 'text', text } } })).event);
    return events;
  }

  /** Hands every event of the conversation to the reaction, as the reaction runner does (at least once). */
  async react(key: ConversationKey): Promise<void> {
    await this.reaction.handle(key, await this.store.readRange(key, { limit: 1000, from: 'oldest' }));
  }

  private wakeAll(): void {
    for (const worker of this.workers) worker.wake();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
    this.outbound.close();
    for (const store of this.extraStores) await store.close();
    await this.store.close();
    await this.drop();
  }
}
