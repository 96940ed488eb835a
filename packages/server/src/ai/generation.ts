import type { LanguageModelV3 } from '@ai-sdk/provider';
import { parseEvent, writtenText, type ConversationEvent, type ConversationMode, type EventData, type GenerationText, type InvalidDataError } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { ApprovalRegistry, ContextArchive, GenerationTexts, KnowledgeBase } from '../core/ports.js';
import type { AppendResult, ConversationKey, ConversationMemory } from '../core/types.js';
import type { ConversationLog } from '../log/conversation-log.js';
import type { OutboundHttp } from '../net/outbound-http.js';
import { activeSpan, annotateActiveSpan } from '../observability/tracing.js';
import type { AnswerCache } from './answer-cache.js';
import { approvalIdOf, type Approvals } from './approvals.js';
import { buildContext, type GenerationContext } from './context.js';
import { gatherContext } from './context-providers.js';
import { citedSources, retrievePassages } from './knowledge-context.js';
import { refreshMemory } from './memory.js';
import { DeltaCoalescer } from './delta-coalescer.js';
import { describeError, ModelStreamError, streamModel, type ModelUsage, type StreamTool, type ToolCall } from './model-stream.js';
import { modelName } from './models.js';
import { takesImages, type AssistantProfile, type ModelSpec } from './profiles.js';
import { toStreamTools, type ToolDefinition } from './tools.js';

/** The built-in tool through which a model hands the conversation to people. */
export const HANDOFF_TOOL = 'handoff_to_human';

/** Why a generation was stopped (the `reason` of its `ai.stopped`). */
export type StopReason = 'user' | 'interrupt' | 'handoff' | 'shutdown';

/** The abort reason of a stopped generation (a timeout aborts with TIMED_OUT instead). */
class Stopped {
  constructor(readonly reason: StopReason) {}
}
const TIMED_OUT = 'timeout';
// Recent events read to build the context; the token budget then decides how many turns are sent.
const HISTORY_EVENTS = 200;
// Images sent with one answer at most (the newest): each costs the model many tokens.
const MAX_IMAGES = 4;

/** Hooks for metrics and logs; the generation itself knows nothing of either. */
export interface GenerationObserver {
  firstToken?(seconds: number, model: string): void;
  finished?(outcome: 'completed' | 'stopped' | 'failed', seconds: number, outputTokens: number): void;
  toolCalled?(tool: string, seconds: number): void;
  attemptFailed?(model: string, error: unknown): void;
  /** An admitted message waited this long for a worker. */
  queued?(seconds: number): void;
  /** Refreshing a conversation's memory failed (the previous summary stays). */
  memoryFailed?(error: unknown): void;
  /** A stored event's data does not match the catalogue; it was left out of the context. */
  invalidEvent?(error: InvalidDataError): void;
  /** The knowledge base failed to answer a search; the answer went on without passages. */
  knowledgeFailed?(error: unknown): void;
}

/** What a generation needs from the rest of the node. */
export interface GenerationDependencies {
  log: ConversationLog;
  publishDelta: (key: ConversationKey, delta: GenerationText) => void;
  /** The text so far of running generations, for snapshots on any node. */
  texts: GenerationTexts;
  createModel: (spec: ModelSpec) => LanguageModelV3;
  tools: ReadonlyMap<string, ToolDefinition>;
  observer: GenerationObserver;
  answerCache: AnswerCache;
  approvals: Approvals;
  /** Shared with every node, so that any node can take the decision. */
  approvalRegistry: ApprovalRegistry;
  /** Where finished generations' contexts are kept for inspection. */
  contexts: ContextArchive;
  /** Calls the tenant's context providers (refusing private addresses the operator has not allowed). */
  outbound: OutboundHttp;
  /** The bytes and sniffed type of a ready attachment of the conversation (images sent to the model), or null. */
  attachmentBytes?: (key: ConversationKey, attachmentId: string) => Promise<{ bytes: Uint8Array; contentType: string } | null>;
  /** The tenants' knowledge bases, searched for profiles with a `knowledge` setting. */
  knowledge?: KnowledgeBase | undefined;
}

/** A failure of one attempt, classified for the retry decision and the `ai.failed` code. */
class AttemptError extends Error {
  constructor(
    readonly code: 'timeout' | 'model_error',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * One AI answer to one user message: `ai.started`, deltas (signals), tool calls and results, then exactly
 * one of `ai.completed`, `ai.stopped`, `ai.failed`. Retries and the next model in the chain apply only
 * before the first token; after it a failure ends the answer with what was said so far.
 */
export class Generation {
  readonly id: string;
  readonly controller = new AbortController();
  private readonly coalescer: DeltaCoalescer;
  private readonly startedAt = performance.now();
  private firstTokenAt: number | null = null;
  private toolCalls = 0;
  private usage: ModelUsage | undefined;
  private context: GenerationContext | null = null;
  private memory: ConversationMemory | null = null;
  private images = new Map<string, { bytes: Uint8Array; contentType: string }>();
  /** The terminal event is stored. */
  private ended = false;
  /** `ai.started` was refused: the conversation had left `assistant` mode. */
  private notStarted = false;
  /** The model called `handoff_to_human` with this reason: the turn ended there, and people take over. */
  private handoffReason: string | null = null;
  /** Approvals being waited for: timeouts do not run meanwhile. */
  private waitingForPeople = 0;
  /** The generation's span (when tracing), marked at the first token from inside the model call's span. */
  private span: ReturnType<typeof activeSpan>;

  constructor(
    readonly key: ConversationKey,
    private readonly profile: AssistantProfile,
    readonly trigger: ConversationEvent,
    private readonly dependencies: GenerationDependencies,
    id: string,
    /** Admitted while queued for a team closed until then: it may start in mode `queued`, and tells the model. */
    private readonly closedUntil?: number,
  ) {
    this.id = id;
    this.coalescer = new DeltaCoalescer(id, profile.deltaIntervalMs, (delta) => {
      dependencies.publishDelta(key, delta);
      // Best effort: a snapshot that lags behind is completed by the deltas that follow it.
      dependencies.texts.put(key, this.coalescer.snapshot()).catch(() => undefined);
    });
  }

  /** The text so far, as deltas have carried it. */
  snapshot(): GenerationText {
    return this.coalescer.snapshot();
  }

  /** The context of this generation, once built (for debugging). */
  get builtContext(): GenerationContext | null {
    return this.context;
  }

  stop(reason: StopReason = 'user'): void {
    this.controller.abort(new Stopped(reason));
  }

  /** Why the model asked for a person (it called `handoff_to_human`), or null. */
  get handoffRequested(): string | null {
    return this.handoffReason;
  }

  /** Whether the answer never started: the conversation was no longer the assistant's (a person took it over). */
  get refused(): boolean {
    return this.notStarted;
  }

  /**
   * Runs to one terminal event. Never throws for model or tool failures; only if the store itself fails.
   * If this generation had begun before (its `ai.started` is stored: a worker that took the job was lost),
   * it is ended with `ai.failed` (`worker_lost`) instead of being answered a second time.
   */
  async run(): Promise<void> {
    // The whole answer's deadline: a watchdog that nothing feeds, postponed only while a person decides.
    const total = new Watchdog(this.controller, this.profile.limits.totalTimeoutMs, this.profile.limits.totalTimeoutMs, () => this.waitingForPeople > 0);
    this.span = activeSpan();
    try {
      // The context is read while `ai.started` commits: the time to first token pays for the slower of the two only.
      const context = Promise.all([
        this.dependencies.log.history(this.key, { limit: HISTORY_EVENTS }),
        this.dependencies.log.getMemory(this.key),
        gatherContext(this.dependencies.outbound, this.profile.contextProviders, this.key, this.trigger.actor.id, questionOf(this.trigger), this.controller.signal),
        // A knowledge base that fails to answer leaves the passages out; the answer goes on without them.
        retrievePassages(this.dependencies.knowledge, this.profile, this.key.tenant, questionOf(this.trigger)).catch((error: unknown) => {
          this.dependencies.observer.knowledgeFailed?.(error);
          return [];
        }),
      ]);
      // Settled here if it fails while `ai.started` is awaited; the await below still reports it.
      context.catch(() => undefined);
      let started: AppendResult;
      try {
        started = await this.appendStarted();
      } catch (error) {
        if (!isModeConflict(error)) throw error;
        // A person owns the conversation now: this answer never starts, and leaves no event.
        this.notStarted = true;
        this.ended = true;
        return;
      }
      if (started.duplicate) return await this.endLost();
      // Listed from now on (text still empty), so that a stop sent through any node finds it before its first token.
      this.dependencies.texts.put(this.key, this.coalescer.snapshot()).catch(() => undefined);
      const [history, memory, providers, passages] = await context;
      this.context = buildContext(this.profile, history.events, this.trigger.seq, { providers, memory, passages, ...(this.closedUntil !== undefined ? { waitingUntil: this.closedUntil } : {}) });
      for (const invalid of this.context.invalid) this.dependencies.observer.invalidEvent?.(invalid);
      this.memory = memory;
      const cacheable = this.cacheableQuestion(this.context);
      const cached = cacheable === null ? null : this.dependencies.answerCache.get(this.key.tenant, this.profile.id, cacheable, this.profile.cache.ttlSeconds * 1000);
      if (cached) {
        this.coalescer.push(cached.text);
        return await this.finish({ kind: 'completed', model: cached.model, cached: true });
      }
      this.images = await this.loadImages(this.context);
      const outcome = await this.runChain(this.context);
      if (cacheable !== null && outcome.kind === 'completed' && this.toolCalls === 0) {
        this.dependencies.answerCache.set(this.key.tenant, this.profile.id, cacheable, { text: this.coalescer.text, model: outcome.model });
      }
      await this.finish(outcome);
      this.summarizeDroppedTurns();
    } catch (error) {
      // Whatever failed (the store, a bug), the generation still gets its one terminal event if the store
      // takes it. Both appends are idempotent: if `ai.started` or a terminal event was committed before the
      // failure was seen, the original is kept and nothing is doubled.
      if (!this.ended) {
        await this.appendStarted()
          .then(() => this.append('ai.failed', { code: 'internal', message: 'the answer failed', text: this.coalescer.text }, 'end'))
          .then(
            () => (this.ended = true),
            () => undefined,
          );
      }
      throw error;
    } finally {
      total.stop();
      this.coalescer.close();
      await this.dependencies.texts.remove(this.key, this.id).catch(() => undefined);
    }
  }

  /**
   * Ends an answer that a lost worker had begun, with the text its deltas had carried as far as the shared
   * texts have it. Tools it called may have run; they are not run again. A no-op if it had already ended.
   */
  private async endLost(): Promise<void> {
    const texts = await this.dependencies.texts.list(this.key).catch(() => []);
    const text = texts.find((entry) => entry.generationId === this.id)?.text ?? '';
    await this.finish({ kind: 'failed', code: 'worker_lost', message: 'the worker producing this answer was lost' }, text);
  }

  /** Turns that no longer fit the context are folded into the conversation's memory, in the background. */
  private summarizeDroppedTurns(): void {
    const dropped = this.context?.dropped;
    if (!dropped) return;
    const { log, createModel, observer } = this.dependencies;
    const model = createModel(this.profile.models[0]!);
    refreshMemory({ log, model, key: this.key, previous: this.memory, turns: dropped.turns, throughSeq: dropped.throughSeq }).catch((error: unknown) =>
      observer.memoryFailed?.(error),
    );
  }

  /** Output tokens of the finished answer (for budgets). */
  get outputTokens(): number {
    return this.usage?.outputTokens ?? Math.ceil(this.coalescer.text.length / 4);
  }

  /**
   * The question, when the cache applies: caching on, and a first question whose answer depends on nothing
   * else (no earlier turns, summarized or dropped; no per-user context from providers).
   */
  private cacheableQuestion(context: GenerationContext): string | null {
    if (this.profile.cache.ttlSeconds === 0 || context.messages.length !== 1 || context.dropped || this.memory) return null;
    if (context.providers.some((provided) => provided.ok)) return null;
    // Passages change with the knowledge base, and the answer's sources with them.
    if (context.passages.length > 0) return null;
    const [only] = context.messages;
    // An answer about an image depends on its bytes, not only on the text that names it.
    return only?.role === 'user' && !only.images ? only.content : null;
  }

  private async runChain(context: GenerationContext): Promise<Outcome> {
    let lastError: AttemptError | null = null;
    for (const spec of this.profile.models) {
      for (let attempt = 0; attempt <= this.profile.limits.retries; attempt++) {
        if (this.controller.signal.aborted) return this.abortedOutcome();
        try {
          await this.attempt(spec, context);
          return { kind: 'completed', model: modelName(spec) };
        } catch (error) {
          if (this.controller.signal.aborted) return this.abortedOutcome();
          lastError = error instanceof AttemptError ? error : new AttemptError('model_error', (error as Error).message, { cause: error });
          this.dependencies.observer.attemptFailed?.(modelName(spec), error);
          // Once text or tool calls reached the conversation, another attempt would contradict them.
          if (this.coalescer.text !== '' || this.toolCalls > 0) return { kind: 'failed', code: lastError.code, message: lastError.message };
          await backoff(attempt, this.controller.signal).catch(() => undefined);
        }
      }
    }
    return { kind: 'failed', code: lastError?.code ?? 'model_error', message: lastError?.message ?? 'no model answered' };
  }

  /** The images of the newest turns that carry some, at most MAX_IMAGES; one that cannot be read is left out (the text still names it). */
  private async loadImages(context: GenerationContext): Promise<Map<string, { bytes: Uint8Array; contentType: string }>> {
    const images = new Map<string, { bytes: Uint8Array; contentType: string }>();
    const load = this.dependencies.attachmentBytes;
    if (!load) return images;
    const ids = context.messages.flatMap((turn) => turn.images ?? []).slice(-MAX_IMAGES);
    const loaded = await Promise.all(ids.map((id) => load(this.key, id).catch(() => null)));
    ids.forEach((id, index) => {
      const image = loaded[index];
      if (image) images.set(id, image);
    });
    return images;
  }

  private abortedOutcome(): Outcome {
    const reason: unknown = this.controller.signal.reason;
    if (reason instanceof Stopped) return { kind: 'stopped', reason: reason.reason };
    return { kind: 'failed', code: 'timeout', message: `the answer took longer than ${this.profile.limits.totalTimeoutMs} ms` };
  }

  private async attempt(spec: ModelSpec, context: GenerationContext): Promise<void> {
    const attempt = new AbortController();
    const stopAttempt = () => attempt.abort(this.controller.signal.reason);
    this.controller.signal.addEventListener('abort', stopAttempt, { once: true });
    const watchdog = new Watchdog(attempt, this.profile.limits.firstTokenTimeoutMs, this.profile.limits.idleTimeoutMs, () => this.waitingForPeople > 0);
    try {
      const tools = this.toolSet(attempt.signal);
      this.usage = await streamModel(
        {
          model: this.dependencies.createModel(spec),
          system: context.system,
          messages: context.messages,
          ...(takesImages(spec) ? { images: this.images } : {}),
          tools,
          maxSteps: tools.size > 0 ? this.profile.limits.maxToolSteps : 1,
          ...(this.profile.limits.maxOutputTokens ? { maxOutputTokens: this.profile.limits.maxOutputTokens } : {}),
          signal: attempt.signal,
          abortTools: (reason) => attempt.abort(reason),
        },
        {
          activity: (progress) => watchdog.activity(progress),
          text: (delta) => this.onText(delta, spec),
          toolCall: async (call) => {
            this.toolCalls++;
            this.coalescer.flush();
            await this.append('ai.tool_call', { toolCallId: call.toolCallId, toolName: call.toolName, input: call.input }, `call:${call.toolCallId}`);
          },
          toolResult: async (call, output) => {
            await this.append('ai.tool_result', { toolCallId: call.toolCallId, toolName: call.toolName, output }, `result:${call.toolCallId}`);
          },
        },
      );
    } catch (error) {
      // A failed step aborts the attempt too (its tools stop), so the model's error is named first.
      if (error instanceof ModelStreamError) throw new AttemptError('model_error', error.message, { cause: error.cause });
      if (attempt.signal.aborted) throw attemptAbortError(attempt.signal.reason);
      throw new AttemptError('model_error', describeError(error), { cause: error });
    } finally {
      watchdog.stop();
      this.controller.signal.removeEventListener('abort', stopAttempt);
    }
    if (attempt.signal.aborted) throw attemptAbortError(attempt.signal.reason);
  }

  private onText(text: string, spec: ModelSpec): void {
    if (this.firstTokenAt === null) {
      this.firstTokenAt = performance.now();
      this.dependencies.observer.firstToken?.((this.firstTokenAt - this.startedAt) / 1000, modelName(spec));
      this.span?.addEvent('parley.first_token', { 'parley.ai.model': modelName(spec) });
    }
    this.coalescer.push(text);
  }

  private toolSet(signal: AbortSignal): Map<string, StreamTool> {
    const definitions = this.profile.tools
      .map((name) => this.dependencies.tools.get(name))
      .filter((tool): tool is ToolDefinition => tool !== undefined && (!tool.tenants || tool.tenants.includes(this.key.tenant)));
    const hooks = {
      gate: (call: ToolCall) => this.approve(call, signal),
      ran: (toolName: string, seconds: number) => this.dependencies.observer.toolCalled?.(toolName, seconds),
    };
    const tools = toStreamTools(definitions, signal, hooks, { ...this.key, userId: this.trigger.actor.id, generationId: this.id });
    // Not while the customer already waits for a person (the team is closed): a handoff cannot loop.
    if (this.profile.handoff.tool && this.closedUntil === undefined) tools.set(HANDOFF_TOOL, this.handoffTool());
    return tools;
  }

  /**
   * The built-in tool that hands the conversation to people: it ends the turn (nothing is said after it; the
   * answer ends `ai.stopped` with reason `handoff`), and the orchestrator then asks the desk for the handoff.
   */
  private handoffTool(): StreamTool {
    return {
      description: 'Hand the conversation to a human support agent: when the customer asks for a person, or you cannot help. Ends your turn.',
      inputSchema: { type: 'object', properties: { reason: { type: 'string', description: 'Why, in a few words, for the agent' } }, required: ['reason'] },
      run: async (call) => {
        const reason = typeof call.input.reason === 'string' && call.input.reason.length > 0 ? call.input.reason.slice(0, 500) : 'the assistant asked for a person';
        this.handoffReason = reason;
        this.controller.abort(new Stopped('handoff'));
        return { handedOff: true };
      },
    };
  }

  /**
   * For tools the profile marks `approvalRequired`: a durable `ai.approval_requested`, then a wait for the
   * first decision of any member (timeouts paused), recorded as `ai.approval_resolved` by the orchestrator.
   */
  private async approve(call: ToolCall, signal: AbortSignal): Promise<boolean> {
    if (!this.profile.approvalRequired.includes(call.toolName)) return true;
    if (signal.aborted) return false;
    const approvalId = approvalIdOf(this.id, call.toolCallId);
    this.waitingForPeople++;
    try {
      const decision = this.dependencies.approvals.wait(this.key, approvalId, this.profile.limits.approvalTimeoutMs, signal);
      await this.dependencies.approvalRegistry.open(this.key, approvalId, this.profile.limits.approvalTimeoutMs);
      if (signal.aborted) return false;
      await this.append('ai.approval_requested', { approvalId, toolCallId: call.toolCallId, toolName: call.toolName, input: call.input }, `approval:${call.toolCallId}`);
      return await decision;
    } finally {
      this.waitingForPeople--;
    }
  }

  private async finish(outcome: Outcome, text = this.coalescer.text): Promise<void> {
    this.coalescer.flush();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const outputTokens = this.outputTokens;
    if (outcome.kind === 'completed') {
      const ttftMs = this.firstTokenAt === null ? null : Math.round(this.firstTokenAt - this.startedAt);
      const usage = { inputTokens: this.usage?.inputTokens ?? null, outputTokens };
      const sources = citedSources(text, this.context?.passages ?? []);
      await this.append('ai.completed', { text, model: outcome.model, ttftMs, usage, ...(outcome.cached ? { cached: true } : {}), ...(sources.length > 0 ? { sources } : {}) }, 'end');
    } else if (outcome.kind === 'stopped') {
      await this.append('ai.stopped', { text, reason: outcome.reason }, 'end');
    } else {
      const fallback = this.profile.fallbackText;
      await this.append('ai.failed', { code: outcome.code, message: outcome.message, text, ...(fallback ? { fallbackText: fallback } : {}) }, 'end');
    }
    this.ended = true;
    annotateActiveSpan({
      'parley.ai.outcome': outcome.kind,
      'parley.ai.output_tokens': outputTokens,
      ...(outcome.kind === 'completed' ? { 'parley.ai.model': outcome.model, 'parley.ai.cached': outcome.cached === true } : {}),
      ...(outcome.kind === 'failed' ? { 'parley.ai.error_code': outcome.code } : {}),
      ...(this.firstTokenAt === null ? {} : { 'parley.ai.ttft_ms': Math.round(this.firstTokenAt - this.startedAt) }),
    });
    this.dependencies.observer.finished?.(outcome.kind, seconds, outputTokens);
  }

  /**
   * An answer starts only while the conversation is the assistant's (or, admitted after hours, still queued),
   * checked in the append's own statement: once an agent has it, nothing starts.
   */
  private appendStarted(): Promise<AppendResult> {
    const modes: readonly ConversationMode[] = this.closedUntil === undefined ? ['assistant'] : ['assistant', 'queued'];
    return this.append('ai.started', { profile: this.profile.id, replyTo: this.trigger.seq }, 'started', modes);
  }

  private append<Type extends GenerationEventType>(type: Type, data: GenerationData<Type>, step: string, requireModes?: readonly ConversationMode[]): Promise<AppendResult> {
    return appendGenerationEvent(this.dependencies.log, this.key, { id: this.id, profileId: this.profile.id, triggerSeq: this.trigger.seq }, type, data, step, requireModes);
  }
}

/** The events a generation appends; each carries its `generationId`. */
type GenerationEventType = 'ai.started' | 'ai.tool_call' | 'ai.tool_result' | 'ai.approval_requested' | 'ai.completed' | 'ai.stopped' | 'ai.failed';
/** The data of a generation's event without the `generationId` that every one of them gets. */
type GenerationData<Type extends GenerationEventType> = Omit<EventData<Type>, 'generationId'>;

/**
 * Appends an event of a generation. `step` names it within the generation and makes the append
 * idempotent (it becomes the event's `clientMsgId`): a retried append never creates a second event, and
 * two workers ending the same generation store one terminal event.
 */
function appendGenerationEvent<Type extends GenerationEventType>(
  log: ConversationLog,
  key: ConversationKey,
  generation: { id: string; profileId: string; triggerSeq: number },
  type: Type,
  data: GenerationData<Type>,
  step: string,
  requireModes?: readonly ConversationMode[],
): Promise<AppendResult> {
  return log.append({
    ...(requireModes ? { requireModes } : {}),
    key,
    type,
    actor: { kind: 'assistant', id: generation.profileId },
    // TypeScript cannot see that adding the omitted key restores EventData<Type>; the log checks it at run time.
    data: { generationId: generation.id, ...data } as EventData<Type>,
    causation: { replyTo: generation.triggerSeq, generationId: generation.id, clientMsgId: `${generation.id}:${step}` },
  });
}

/** Ends an answer that cannot be produced at all (its profile is unknown here, the queue refused it) with `ai.started` and `ai.failed`. */
export async function failUnanswerable(
  log: ConversationLog,
  key: ConversationKey,
  trigger: ConversationEvent,
  job: { id: string; profileId: string },
  code: string,
  message: string,
): Promise<void> {
  const generation = { id: job.id, profileId: job.profileId, triggerSeq: trigger.seq };
  await appendGenerationEvent(log, key, generation, 'ai.started', { profile: job.profileId, replyTo: trigger.seq }, 'started');
  await appendGenerationEvent(log, key, generation, 'ai.failed', { code, message, text: '' }, 'end');
}

type Outcome = { kind: 'completed'; model: string; cached?: boolean } | { kind: 'stopped'; reason: StopReason } | { kind: 'failed'; code: string; message: string };

/** The store refused an append because of the conversation's mode. */
function isModeConflict(error: unknown): boolean {
  return error instanceof ParleyError && error.code === 'conflict' && error.details !== undefined && 'mode' in error.details;
}

/**
 * Aborts an attempt that waits too long for its first token, or for any part after it. While `paused`
 * (a person is deciding on an approval) a due timeout is postponed, not fired.
 */
class Watchdog {
  private timer: ReturnType<typeof setTimeout>;
  private started = false;

  constructor(
    private readonly attempt: AbortController,
    firstTokenMs: number,
    private readonly idleMs: number,
    private readonly paused: () => boolean,
  ) {
    this.timer = this.arm(firstTokenMs);
  }

  /** Something arrived; `progress` when it was text or a tool call (the first token, for the first timeout). */
  activity(progress: boolean): void {
    if (!this.started && !progress) return;
    this.started = true;
    clearTimeout(this.timer);
    this.timer = this.arm(this.idleMs);
  }

  private arm(ms: number): ReturnType<typeof setTimeout> {
    return setTimeout(() => {
      if (this.paused()) this.timer = this.arm(ms);
      else this.attempt.abort(TIMED_OUT);
    }, ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** The text of the message an answer is for (the text parts of parts content; '' for structured content), as context providers receive it. */
function questionOf(trigger: ConversationEvent): string {
  const parsed = parseEvent(trigger);
  if (!parsed.ok) throw parsed.error;
  const event = parsed.event;
  return event.type === 'message.created' ? writtenText(event.data.content) : '';
}

function attemptAbortError(reason: unknown): AttemptError {
  if (reason === TIMED_OUT) return new AttemptError('timeout', 'the model did not answer in time');
  return new AttemptError('model_error', `aborted: ${String(reason)}`);
}

/** Waits 200 ms, 400 ms, 800 ms ... (capped at 2 s) before the next attempt; rejects if aborted meanwhile. */
function backoff(attempt: number, signal: AbortSignal): Promise<void> {
  const delay = Math.min(2000, 200 * 2 ** attempt);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, delay);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}
