import type { LanguageModelV3, LanguageModelV3CallOptions, LanguageModelV3StreamPart } from '@ai-sdk/provider';
import type { Content, ConversationEvent, GenerationText } from '@parley/protocol';
import { Orchestrator } from '../../src/ai/orchestrator.js';
import { AnswerCache } from '../../src/ai/answer-cache.js';
import { Approvals } from '../../src/ai/approvals.js';
import { MemoryBudgets, type BudgetLimits } from '../../src/ai/budgets.js';
import { createModel } from '../../src/ai/models.js';
import { profileSchema, type ModelSpec } from '../../src/ai/profiles.js';
import { demoBackendTools } from '../../src/ai/demo-backend.js';
import type { ToolDefinition } from '../../src/ai/tools.js';
import { MemoryApprovalRegistry } from '../../src/adapters/memory/approval-registry.js';
import { MemoryBus } from '../../src/adapters/memory/bus.js';
import { MemoryContextArchive } from '../../src/adapters/memory/context-archive.js';
import { MemoryGenerationTexts } from '../../src/adapters/memory/generation-texts.js';
import { MemoryJobQueue, type JobQueueLimits } from '../../src/adapters/memory/job-queue.js';
import type { JobQueue } from '../../src/core/ports.js';
import type { ConversationKey } from '../../src/core/types.js';
import { ConversationLog } from '../../src/log/conversation-log.js';
import { ReactionRunner } from '../../src/reactions/runner.js';
import { OutboundHttp } from '../../src/net/outbound-http.js';
import { OutboundPolicy } from '../../src/net/outbound-policy.js';
import { openPostgresStore } from '../../src/store/postgres/open.js';
import { PostgresReactionCursors } from '../../src/store/postgres/reaction-cursors.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';

/** How a scripted model answers one call. */
export type Script =
  | { kind: 'fail'; message: string }
  | { kind: 'hang' }
  | { kind: 'text'; tokens: string[]; delayMs?: number; failAfter?: number };

/** A model that follows `scripts`, one per call (the last repeats), and records its calls. */
export class ScriptedModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3';
  readonly provider = 'test';
  readonly supportedUrls = {};
  readonly calls: LanguageModelV3CallOptions[] = [];

  constructor(
    readonly modelId: string,
    private readonly scripts: Script[],
  ) {}

  async doGenerate(): Promise<never> {
    throw new Error('not used');
  }

  async doStream(options: LanguageModelV3CallOptions) {
    const script = this.scripts[Math.min(this.calls.length, this.scripts.length - 1)]!;
    this.calls.push(options);
    if (script.kind === 'fail') throw new Error(script.message);
    const signal = options.abortSignal;
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      async start(controller) {
        try {
          controller.enqueue({ type: 'stream-start', warnings: [] });
          if (script.kind === 'hang') await wait(60_000, signal);
          const tokens = script.kind === 'text' ? script.tokens : [];
          controller.enqueue({ type: 'text-start', id: 't' });
          for (const [index, token] of tokens.entries()) {
            if (script.kind === 'text' && script.failAfter === index) throw new Error('model crashed mid-stream');
            await wait(script.kind === 'text' ? (script.delayMs ?? 1) : 1, signal);
            controller.enqueue({ type: 'text-delta', id: 't', delta: token });
          }
          controller.enqueue({ type: 'text-end', id: 't' });
          controller.enqueue({
            type: 'finish',
            finishReason: { unified: 'stop', raw: undefined },
            usage: { inputTokens: { total: 10, noCache: undefined, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: tokens.length, text: undefined, reasoning: undefined } },
          });
          controller.close();
        } catch (error) {
          controller.error(error);
        }
      },
    });
    return { stream };
  }
}

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}

// The answer reaction's runner in these tests: quick retries and sweeps.
const RUNNER_SETTINGS = { leaseMs: 5000, pageSize: 100, concurrency: 8, retryBaseMs: 50, retryMaxMs: 1000, sweepIntervalMs: 200, lookbackMs: 60_000, sweepLimit: 1000 };

/**
 * An orchestrator over a real store and the memory bus, with scripted models by name. Its answer reaction
 * runs as on a node: woken by each commit of the harness's log (the latest orchestrator's only).
 */
export class AiHarness {
  readonly bus = new MemoryBus(1000);
  readonly log: ConversationLog;
  readonly deltas: GenerationText[] = [];
  /** Attachment bytes the orchestrators read (images sent to models), by attachment id. */
  readonly attachments = new Map<string, { bytes: Uint8Array; contentType: string }>();
  readonly models = new Map<string, ScriptedModel>();
  readonly answerCache = new AnswerCache(100);
  /** Errors of background work (memory refreshes). */
  readonly failures: unknown[] = [];
  readonly approvals = new Approvals();
  readonly approvalRegistry = new MemoryApprovalRegistry();
  private counter = 0;
  private runner: ReactionRunner | null = null;
  /** The latest orchestrator's runner, started (and the one before it stopped). */
  private runnerReady: Promise<void> = Promise.resolve();

  /** Calls tool and context webhooks of the orchestrators made next; the tests' local backends are on its allow-list. */
  outbound: OutboundHttp;

  constructor(
    private readonly store: PostgresStore,
    outboundAllow: string[],
  ) {
    this.log = new ConversationLog(store, this.bus, { committed: (event) => this.runner?.committed(event) });
    this.outbound = new OutboundHttp(new OutboundPolicy(outboundAllow));
  }

  /** A harness over a fresh, migrated in-memory PGlite store; `outboundAllow` is the operator's allow-list. */
  static async open(outboundAllow = ['127.0.0.1']): Promise<AiHarness> {
    const store = await openPostgresStore({ kind: 'pglite', dataDir: 'memory://' });
    await store.migrate();
    return new AiHarness(store, outboundAllow);
  }

  async close(): Promise<void> {
    await this.runnerReady;
    await this.runner?.stop(1000);
    this.outbound.close();
    await this.store.close();
  }

  /** An orchestrator with one profile `p` built from `profile` (zod defaults apply). */
  orchestrator(
    profile: Record<string, unknown>,
    limits: JobQueueLimits = { maxQueued: 50, concurrency: 8, perTenantConcurrency: 8 },
    budgets: BudgetLimits = { windowMs: 60_000, requests: 1000, tokens: 1_000_000 },
    extraTools: ToolDefinition[] = [],
    queue: JobQueue = new MemoryJobQueue(limits, () => undefined),
  ) {
    const orchestrator = new Orchestrator(
      [profileSchema.parse({ id: 'p', deltaIntervalMs: 0, ...profile })],
      queue,
      new MemoryBudgets(budgets),
      {
        log: this.log,
        texts: new MemoryGenerationTexts(),
        publishDelta: (_key, delta) => this.deltas.push(delta),
        createModel: (spec: ModelSpec) => (spec.provider === 'openai-compatible' && this.models.get(spec.model)) || createModel(spec),
        tools: new Map([...demoBackendTools(), ...extraTools].map((tool) => [tool.name, tool])),
        observer: { memoryFailed: (error) => this.failures.push(error) },
        answerCache: this.answerCache,
        approvals: this.approvals,
        approvalRegistry: this.approvalRegistry,
        contexts: new MemoryContextArchive(100),
        outbound: this.outbound,
        attachmentBytes: async (_key, attachmentId) => this.attachments.get(attachmentId) ?? null,
      },
      () => undefined,
      this.bus,
    );
    orchestrator.work();
    this.runReaction(orchestrator);
    return { orchestrator, queue };
  }

  /** The orchestrator's answer reaction runs from now on, instead of the previous orchestrator's. */
  private runReaction(orchestrator: Orchestrator): void {
    const previous = this.runner;
    const runner = new ReactionRunner(new PostgresReactionCursors(this.store.database), this.bus, RUNNER_SETTINGS);
    runner.add(orchestrator.reaction, { runsHere: true });
    this.runner = runner;
    this.runnerReady = this.runnerReady.then(async () => {
      await previous?.stop(1000);
      await runner.start();
    });
  }

  /** Registers a scripted model and returns its spec for a profile's `models`. */
  model(name: string, scripts: Script[]): { provider: 'openai-compatible'; baseUrl: string; model: string } {
    this.models.set(name, new ScriptedModel(name, scripts));
    return { provider: 'openai-compatible', baseUrl: 'http://unused.invalid', model: name };
  }

  /** A new conversation answered by profile `p`. */
  async conversation(): Promise<ConversationKey> {
    await this.runnerReady;
    const key = { tenant: 'acme', conversationId: `ai-${process.pid}-${++this.counter}` };
    await this.log.create({ key, createdBy: 'alice', members: [], metadata: {}, assistant: 'p' });
    return key;
  }

  /** Sends a user message the way the gateway does: admit, append, then commit or release. */
  async send(orchestrator: Orchestrator, key: ConversationKey, text: string | Content): Promise<ConversationEvent> {
    await this.runnerReady;
    const content: Content = typeof text === 'string' ? { type: 'text', text } : text;
    const conversation = (await this.log.get(key))!;
    const actor = { kind: 'user' as const, id: 'alice' };
    const admission = await orchestrator.admit(conversation, actor);
    const { event } = await this.log.append({ key, type: 'message.created', actor, data: { content }, causation: { clientMsgId: `m-${++this.counter}` } });
    admission.committed(event);
    return event;
  }

  async events(key: ConversationKey): Promise<ConversationEvent[]> {
    return (await this.log.history(key, { after: 0, limit: 200 })).events;
  }

  /** Waits until the conversation has `count` terminal AI events. */
  async terminals(key: ConversationKey, count = 1, timeoutMs = 20_000): Promise<ConversationEvent[]> {
    const started = Date.now();
    for (;;) {
      const ends = (await this.events(key)).filter((event) => ['ai.completed', 'ai.stopped', 'ai.failed'].includes(event.type));
      if (ends.length >= count) return ends;
      if (Date.now() - started > timeoutMs) throw new Error(`only ${ends.length} of ${count} generations ended`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
