import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The server's Prometheus metrics, in their own registry (no global state shared with the host application). */
export class Metrics {
  readonly registry = new Registry();
  readonly connectionsOpen = new Gauge({ name: 'parley_connections_open', help: 'Open client connections', labelNames: ['transport'], registers: [this.registry] });
  readonly framesIn = this.frameCounter('parley_frames_in_total', 'Frames received from clients', 'in');
  readonly framesOut = this.frameCounter('parley_frames_out_total', 'Frames sent to clients', 'out');
  readonly eventsAppended = new Counter({ name: 'parley_events_appended_total', help: 'Durable events committed to the log', labelNames: ['type'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'parley_errors_total', help: 'Error replies sent, by code', labelNames: ['code'], registers: [this.registry] });
  readonly disconnects = new Counter({ name: 'parley_disconnects_total', help: 'Connections closed by the server, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly publishFailures = new Counter({ name: 'parley_publish_failures_total', help: 'Committed events whose publish to the bus failed (healed by subscribers)', registers: [this.registry] });
  readonly appendDuration = new Histogram({
    name: 'parley_append_duration_seconds',
    help: 'Time to commit one event to the store',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly aiTimeToFirstToken = new Histogram({
    name: 'parley_ai_ttft_seconds',
    help: 'Time from the start of a generation to its first token',
    labelNames: ['model'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16],
    registers: [this.registry],
  });
  readonly aiGenerationDuration = new Histogram({ name: 'parley_ai_generation_seconds', help: 'Duration of generations, by outcome', labelNames: ['outcome'], buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120], registers: [this.registry] });
  readonly aiTokensPerSecond = new Histogram({ name: 'parley_ai_tokens_per_second', help: 'Output tokens per second of finished generations', buckets: [5, 10, 20, 40, 80, 160, 320], registers: [this.registry] });
  readonly aiOutcomes = new Counter({ name: 'parley_ai_generations_total', help: 'Finished generations, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly aiAttemptFailures = new Counter({ name: 'parley_ai_attempt_failures_total', help: 'Model attempts that failed (retried or not)', labelNames: ['model'], registers: [this.registry] });
  readonly aiQueueWait = new Histogram({ name: 'parley_ai_queue_wait_seconds', help: 'Time an admitted message waited for a worker', buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [this.registry] });
  readonly aiToolDuration = new Histogram({ name: 'parley_ai_tool_seconds', help: 'Tool call latency', labelNames: ['tool'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10], registers: [this.registry] });
  private readQueue: () => Promise<{ waiting: number; running: number }> = async () => ({ waiting: 0, running: 0 });
  readonly aiQueueDepth: Gauge = new Gauge({
    name: 'parley_ai_queue_depth',
    help: 'AI jobs waiting, reserved included (of every node, with Redis)',
    registers: [this.registry],
    collect: async (): Promise<void> => this.aiQueueDepth.set((await this.readQueue().catch(() => ({ waiting: Number.NaN }))).waiting),
  });
  readonly aiRunning: Gauge = new Gauge({
    name: 'parley_ai_running',
    help: 'AI generations running on this node',
    registers: [this.registry],
    collect: async (): Promise<void> => this.aiRunning.set((await this.readQueue().catch(() => ({ running: Number.NaN }))).running),
  });

  private readDependencies: () => Promise<Record<string, { up: boolean }>> = async () => ({});
  readonly dependencyUp: Gauge = new Gauge({
    name: 'parley_dependency_up',
    help: 'Whether a dependency answers (1) or not (0), checked when scraped: store, redis',
    labelNames: ['dependency'],
    registers: [this.registry],
    collect: async (): Promise<void> => {
      for (const [dependency, state] of Object.entries(await this.readDependencies())) this.dependencyUp.set({ dependency }, state.up ? 1 : 0);
    },
  });
  readonly supportHandoffs = new Counter({ name: 'parley_support_handoffs_total', help: 'Conversations handed from the assistant to people, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly supportAssignments = new Counter({ name: 'parley_support_assignments_total', help: 'Conversations assigned to agents, by how (routing, claim, assign)', labelNames: ['kind'], registers: [this.registry] });
  readonly supportRequeued = new Counter({ name: 'parley_support_requeued_total', help: 'Assignments routing took back (not accepted in time, agent offline)', labelNames: ['reason'], registers: [this.registry] });
  readonly supportQueueWait = new Histogram({ name: 'parley_support_queue_wait_seconds', help: 'Time from handoff to assignment', buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600], registers: [this.registry] });
  readonly supportQueueDepth = new Gauge({ name: 'parley_support_queue_depth', help: 'Conversations waiting for an agent after the last routing pass on this node, by tenant', labelNames: ['tenant'], registers: [this.registry] });
  readonly supportRatings = new Counter({ name: 'parley_support_ratings_total', help: 'Customer ratings (CSAT), by rating', labelNames: ['rating'], registers: [this.registry] });
  readonly reactionEventsHandled = new Counter({ name: 'parley_reaction_events_handled_total', help: 'Events handed to a reaction that it handled', labelNames: ['reaction'], registers: [this.registry] });
  readonly reactionFailures = new Counter({ name: 'parley_reaction_failures_total', help: 'Pages of events a reaction failed to handle (retried after a backoff)', labelNames: ['reaction'], registers: [this.registry] });
  readonly reactionDelay = new Histogram({
    name: 'parley_reaction_delay_seconds',
    help: "Time from an event's append to its handling by a reaction, on the node that handled it",
    labelNames: ['reaction'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });
  private readBacklogs: () => Promise<ReactionBacklog[]> = async () => [];
  readonly reactionLag: Gauge = new Gauge({
    name: 'parley_reaction_lag_seconds',
    help: 'Age of the oldest event a reaction has not handled yet (0 when it is caught up), read from the store when scraped',
    labelNames: ['reaction'],
    registers: [this.registry],
    collect: async (): Promise<void> => {
      for (const backlog of await this.reactionBacklogs()) this.reactionLag.set({ reaction: backlog.reaction }, backlog.oldestTs === null ? 0 : Math.max(0, Date.now() - backlog.oldestTs) / 1000);
    },
  });
  readonly reactionBacklog: Gauge = new Gauge({
    name: 'parley_reaction_backlog_events',
    help: 'Events a reaction has not handled yet, read from the store when scraped',
    labelNames: ['reaction'],
    registers: [this.registry],
    collect: async (): Promise<void> => {
      for (const backlog of await this.reactionBacklogs()) this.reactionBacklog.set({ reaction: backlog.reaction }, backlog.events);
    },
  });
  /** One read of the backlogs serves both gauges of a scrape. */
  private backlogRead: { at: number; result: Promise<ReactionBacklog[]> } | null = null;
  readonly webhookAttempts = new Counter({ name: 'parley_webhook_attempts_total', help: 'Webhook delivery attempts, by outcome: delivered, retrying (failed, to be retried) or failed (retry window used up)', labelNames: ['outcome'], registers: [this.registry] });
  readonly webhookAttemptDuration = new Histogram({
    name: 'parley_webhook_attempt_seconds',
    help: 'Duration of webhook delivery attempts (request and recording), by outcome',
    labelNames: ['outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly webhookEndpointsDisabled = new Counter({ name: 'parley_webhook_endpoints_disabled_total', help: 'Webhook endpoints disabled after failing for the whole retry window', registers: [this.registry] });
  private readWebhookBacklog: () => Promise<{ pending: number; oldestCreatedAt: number | null }> = async () => ({ pending: 0, oldestCreatedAt: null });
  private webhookBacklog: { at: number; value: Promise<{ pending: number; oldestCreatedAt: number | null }> } | null = null;
  readonly webhookPending: Gauge = new Gauge({
    name: 'parley_webhook_pending',
    help: 'Webhook deliveries waiting to be delivered (of every node)',
    registers: [this.registry],
    collect: async (): Promise<void> => this.webhookPending.set((await this.webhookBacklogNow()).pending),
  });
  readonly webhookOldestPending: Gauge = new Gauge({
    name: 'parley_webhook_oldest_pending_seconds',
    help: 'Age of the oldest webhook delivery still pending (0 when none is)',
    registers: [this.registry],
    collect: async (): Promise<void> => {
      const { oldestCreatedAt } = await this.webhookBacklogNow();
      this.webhookOldestPending.set(oldestCreatedAt === null ? 0 : Math.max(0, (Date.now() - oldestCreatedAt) / 1000));
    },
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'parley_' });
  }

  private readonly frameCountersByTransport = new Map<string, FrameCounters>();

  /**
   * The frame counts of one transport as plain numbers that the hot path increments; they are added to
   * the Prometheus counters when scraped (a labelled `inc` per frame costs a label hash each time).
   */
  frameCounters(transport: string): FrameCounters {
    let counters = this.frameCountersByTransport.get(transport);
    if (!counters) {
      counters = { in: 0, out: 0 };
      this.frameCountersByTransport.set(transport, counters);
    }
    return counters;
  }

  /** A frame counter by transport, filled from the plain-number counts when Prometheus scrapes. */
  private frameCounter(name: string, help: string, direction: 'in' | 'out'): Counter {
    const counter: Counter = new Counter({
      name,
      help,
      labelNames: ['transport'],
      registers: [this.registry],
      collect: (): void => {
        for (const [transport, counters] of this.frameCountersByTransport) {
          if (counters[direction] > 0) counter.inc({ transport }, counters[direction]);
          counters[direction] = 0;
        }
      },
    });
    return counter;
  }

  /** Where `parley_dependency_up` reads the dependencies' states when scraped. */
  watchDependencies(read: () => Promise<Record<string, { up: boolean }>>): void {
    this.readDependencies = read;
  }

  /** Where the reaction gauges read the backlogs of this node's reactions when scraped. */
  watchReactions(read: () => Promise<ReactionBacklog[]>): void {
    this.readBacklogs = read;
  }

  private reactionBacklogs(): Promise<ReactionBacklog[]> {
    const now = performance.now();
    if (!this.backlogRead || now - this.backlogRead.at > 1000) {
      this.backlogRead = { at: now, result: this.readBacklogs().catch(() => [] as ReactionBacklog[]) };
    }
    return this.backlogRead.result;
  }

  /** Where the webhook backlog gauges read their values when scraped. */
  watchWebhooks(read: () => Promise<{ pending: number; oldestCreatedAt: number | null }>): void {
    this.readWebhookBacklog = read;
  }

  /** The backlog read once per scrape for both gauges (a failed read shows as NaN). */
  private webhookBacklogNow(): Promise<{ pending: number; oldestCreatedAt: number | null }> {
    if (!this.webhookBacklog || Date.now() - this.webhookBacklog.at > 1000) {
      this.webhookBacklog = { at: Date.now(), value: this.readWebhookBacklog().catch(() => ({ pending: Number.NaN, oldestCreatedAt: null })) };
    }
    return this.webhookBacklog.value;
  }

  /** Where the AI queue gauges read their values when scraped. */
  watchAiQueue(read: () => Promise<{ waiting: number; running: number }>): void {
    this.readQueue = read;
  }
}

/** Frames counted since the last scrape. */
export interface FrameCounters {
  in: number;
  out: number;
}

/** A reaction's events not yet handled: the append time of the oldest (ms since the epoch), and how many (NaN when unknown). */
export interface ReactionBacklog {
  reaction: string;
  oldestTs: number | null;
  events: number;
}
