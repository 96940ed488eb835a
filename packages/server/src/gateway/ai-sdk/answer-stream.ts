import { isKnownEvent, parseEvent, parseSignal, visibleTo, type ConversationEvent, type GenerationText, type Signal, type Viewer } from '@parley/protocol';
import type { Logger } from 'pino';
import type { Assistants } from '../../core/ports.js';
import type { ConversationKey } from '../../core/types.js';
import type { ConversationLog } from '../../log/conversation-log.js';
import { OrderedFeed } from '../../log/ordered-feed.js';
import type { Hub, HubSubscriber } from '../hub.js';
import { AnswerChunks, answerEventOf, type ResponseEnd, type UIMessageChunk } from './chunks.js';

const REPLAY_PAGE_SIZE = 200;
const MAX_HELD_EVENTS = 500;
// Deltas kept while the generation they belong to is not known yet, or while the replay runs; past it the snapshot covers them.
const MAX_HELD_DELTAS = 1000;

/** What an answer stream reads from. */
export interface AnswerStreamDependencies {
  log: ConversationLog;
  hub: Hub;
  assistants: Pick<Assistants, 'snapshots'>;
  logger: Logger;
  gapHoldMs: number;
}

/** Which generation a response follows: the answer to the message at seq `replyTo`, or generation `generationId`. */
export type AnswerTarget = { replyTo: number } | { generationId: string };

/** Where the chunks of a response go. */
export interface ResponseSink {
  chunk(chunk: UIMessageChunk): void;
  /** The response is complete (the answer ended, or waits for an approval). */
  end(how: ResponseEnd): void;
  /** The response cannot go on (the log could not be read); the client resumes. */
  fail(error: Error): void;
}

/** What the client has of the answer already: a follow-up after an approval continues the same message. */
export interface AnswerContinuation {
  /** The answer's text so far, as the client has it. */
  baseline: GenerationText;
  /** The tool calls the client's message shows. */
  knownCalls: readonly string[];
}

/**
 * The AI SDK response for one Parley generation, from the conversation's log and live traffic: it attaches to
 * the conversation on this node's hub before anything is sent (so nothing is missed), reads the log after
 * `after`, then hands over to live events at the seam (OrderedFeed: no gap, no duplicate), and adds the
 * generation's text so far (the snapshot) before the deltas that follow it.
 */
export class AnswerStream implements HubSubscriber {
  private feed: OrderedFeed | null = null;
  /** Live events that came before `start` set the position. */
  private early: ConversationEvent[] | null = [];
  /** Deltas held until the replay and the snapshot are sent, or until their generation is known. */
  private heldDeltas: GenerationText[] = [];
  private replaying = true;
  private answer: AnswerChunks | null = null;
  private fetchingSnapshot = false;
  private closed = false;
  private target: AnswerTarget | null = null;
  private continuation: AnswerContinuation | null = null;

  constructor(
    private readonly key: ConversationKey,
    private readonly dependencies: AnswerStreamDependencies,
    private readonly viewer: Viewer,
    private readonly sink: ResponseSink,
    /** Names this response's text part within the answer's message (a follow-up opens a second one). */
    private readonly textPart: string,
  ) {}

  /** The generation this response follows, once known. */
  get generationId(): string | null {
    return this.answer?.generationId ?? null;
  }

  /** Starts hearing the conversation's live traffic on this node (before a send, so its answer cannot be missed). */
  attach(): Promise<void> {
    return this.dependencies.hub.attach(this.key, this);
  }

  /** Follows `target` from the events after seq `after`: the log first, then live. */
  async start(after: number, target: AnswerTarget, continuation: AnswerContinuation | null = null): Promise<void> {
    this.target = target;
    this.continuation = continuation;
    if ('generationId' in target) this.follow(target.generationId);
    const { log, gapHoldMs, logger } = this.dependencies;
    this.feed = new OrderedFeed({
      lastSeq: after,
      fetchAfter: (from, limit) => log.readAfter(this.key, from, limit),
      deliver: (event) => this.onOrderedEvent(event),
      onError: (error) => {
        logger.warn({ err: error, conversation: this.key.conversationId }, 'AI SDK response interrupted');
        this.finish(() => this.sink.fail(error));
      },
      holdMs: gapHoldMs,
      pageSize: REPLAY_PAGE_SIZE,
      maxHeld: MAX_HELD_EVENTS,
    });
    for (const event of this.early ?? []) this.feed.push(event);
    this.early = null;
    await this.feed.catchUp();
    if (this.closed) return;
    // The text so far of a running answer, then the deltas after it: the seam has nothing missing or doubled.
    if (this.answer && !this.answer.ended) await this.catchUpText();
    this.replaying = false;
    this.endIfWaiting();
    const held = this.heldDeltas;
    this.heldDeltas = [];
    for (const delta of held) this.onDelta(delta);
  }

  /** Stops following (the client went away, aborted, or the response ended). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.feed?.close();
    await this.dependencies.hub.detach(this.key, this);
  }

  onEvent(event: ConversationEvent): void {
    if (this.early) {
      if (this.early.length < MAX_HELD_EVENTS) this.early.push(event);
      return;
    }
    this.feed?.push(event);
  }

  onGap(): void {
    this.feed?.catchUpIfStarted();
  }

  onSignal(signal: Signal): void {
    if (signal.type !== 'ai.delta' || !visibleTo(signal, this.viewer)) return;
    const parsed = parseSignal(signal);
    if (!parsed.ok || parsed.signal.type !== 'ai.delta') return;
    if (this.replaying || !this.answer) {
      if (this.heldDeltas.length < MAX_HELD_DELTAS) this.heldDeltas.push(parsed.signal.data);
      return;
    }
    this.onDelta(parsed.signal.data);
  }

  private onDelta(delta: GenerationText): void {
    if (!this.answer) {
      if (this.heldDeltas.length < MAX_HELD_DELTAS) this.heldDeltas.push(delta);
      return;
    }
    this.emit(this.answer.delta(delta));
    if (this.answer.behind) void this.catchUpText();
  }

  private onOrderedEvent(event: ConversationEvent): void {
    if (this.closed || !visibleTo(event, this.viewer)) return;
    const parsed = parseEvent(event);
    if (!parsed.ok || !isKnownEvent(parsed.event)) return;
    const answerEvent = answerEventOf(parsed.event);
    if (!answerEvent) return;
    if (!this.answer && this.target && 'replyTo' in this.target && answerEvent.type === 'ai.started' && answerEvent.data.replyTo === this.target.replyTo) {
      this.follow(answerEvent.data.generationId);
      // Deltas that overtook their `ai.started` (signals and events travel apart).
      const early = this.heldDeltas;
      this.heldDeltas = [];
      if (!this.replaying) for (const delta of early) this.onDelta(delta);
      else this.heldDeltas = early;
    }
    if (!this.answer) return;
    this.emit(this.answer.event(answerEvent));
    this.endIfWaiting();
  }

  /** Live (not in a replay, where the decision may follow), an answer waiting for an approval ends the response. */
  private endIfWaiting(): void {
    if (!this.replaying && this.answer?.waitingFor && !this.answer.ended) this.emit(this.answer.endForApproval());
  }

  /** Begins the response for `generationId`. */
  private follow(generationId: string): void {
    if (this.answer) return;
    this.answer = new AnswerChunks(generationId, `${generationId}-${this.textPart}`, this.continuation?.baseline ?? null);
    for (const toolCallId of this.continuation?.knownCalls ?? []) this.answer.knowCall(toolCallId);
    this.emit(this.answer.begin());
  }

  /** Reads the generation's text so far and sends what the client lacks (after a replay, or a missed delta). */
  private async catchUpText(): Promise<void> {
    const answer = this.answer;
    if (!answer || this.fetchingSnapshot) return;
    this.fetchingSnapshot = true;
    try {
      const snapshots = await this.dependencies.assistants.snapshots(this.key).catch(() => []);
      const snapshot = snapshots.find((text) => text.generationId === answer.generationId);
      if (snapshot && !this.closed) this.emit(answer.snapshot(snapshot));
    } finally {
      this.fetchingSnapshot = false;
    }
  }

  private emit(chunks: UIMessageChunk[]): void {
    if (this.closed) return;
    for (const chunk of chunks) this.sink.chunk(chunk);
    const ended = this.answer?.ended;
    if (ended) this.finish(() => this.sink.end(ended));
  }

  private finish(report: () => void): void {
    if (this.closed) return;
    void this.close();
    report();
  }
}
