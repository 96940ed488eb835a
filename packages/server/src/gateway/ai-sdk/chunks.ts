import { toolResultError, type GenerationText, type KnownEvent } from '@parley/protocol';
import type { UIMessageChunk as ServerUIMessageChunk } from 'ai';

/**
 * A UI message stream chunk of ai 7 (whose clients these endpoints serve): the server's own `ai` types, and
 * `tool-approval-response`, which ai 7 added (a replayed answer shows the decision on its tool call).
 */
export type UIMessageChunk = ServerUIMessageChunk | { type: 'tool-approval-response'; approvalId: string; approved: boolean };

/** The events of one generation that the AI SDK's UI message stream shows. */
export type AnswerEvent = KnownEvent<'ai.started' | 'ai.tool_call' | 'ai.tool_result' | 'ai.approval_requested' | 'ai.approval_resolved' | 'ai.completed' | 'ai.stopped' | 'ai.failed'>;

const ANSWER_EVENT_TYPES: ReadonlySet<string> = new Set(['ai.started', 'ai.tool_call', 'ai.tool_result', 'ai.approval_requested', 'ai.approval_resolved', 'ai.completed', 'ai.stopped', 'ai.failed']);

/** The generation a Parley event belongs to, if it is one of an answer's events. */
export function answerEventOf(event: KnownEvent): AnswerEvent | null {
  return ANSWER_EVENT_TYPES.has(event.type) ? (event as AnswerEvent) : null;
}

/** How a response (one AI SDK request) ended: the answer ended, or it waits for the user's approval. */
export type ResponseEnd = 'completed' | 'stopped' | 'failed' | 'approval';

/**
 * One AI SDK response for one Parley generation, as pure mapping: Parley's events, deltas and snapshots in,
 * UI message stream chunks out. It keeps only what the mapping needs: how much text the client has, the
 * index of the last delta it got, the tool calls it knows.
 *
 * The answer's UI message id is the generation id. Its text is one text part, opened right after `start`,
 * so that a replay (tool parts from the log, the text from the snapshot) builds the same message as the live
 * stream did. Text comes from deltas in index order; a delta that skips an index makes the response `behind`
 * until a snapshot (or the final event's text) brings the rest.
 */
export class AnswerChunks {
  /** The text the client has of this generation (the text part's content since this response began). */
  private sent = '';
  /** The last delta index the text covers; -1 before any. */
  private index = -1;
  private readonly knownCalls = new Set<string>();
  private textOpen = false;
  /** A delta was missed: deltas are ignored until a snapshot or the final text catches up. */
  behind = false;
  /** The approval the answer waits for, if any. */
  waitingFor: string | null = null;
  /** Set once the response ended; nothing follows. */
  ended: ResponseEnd | null = null;

  constructor(
    readonly generationId: string,
    /** The id of this response's text part (unique within the message: a follow-up opens a new one). */
    private readonly textId: string,
    /** What the client already has of the generation's text (a follow-up after an approval), in the snapshot's terms. */
    baseline: GenerationText | null = null,
  ) {
    if (baseline) {
      this.sent = baseline.text;
      this.index = baseline.index;
    }
  }

  /** `start` with the answer's message id (so a replay or follow-up lands in the same assistant message), and the text part. */
  begin(): UIMessageChunk[] {
    this.textOpen = true;
    return [{ type: 'start', messageId: this.generationId }, { type: 'text-start', id: this.textId }];
  }

  /** A delta of the generation's text. */
  delta(delta: GenerationText): UIMessageChunk[] {
    if (this.ended || delta.generationId !== this.generationId || delta.index <= this.index) return [];
    if (this.behind || delta.index !== this.index + 1) {
      this.behind = true;
      return [];
    }
    this.index = delta.index;
    return this.text(this.sent + delta.text);
  }

  /** The text so far (a snapshot): sends what the client lacks and catches up after a missed delta. */
  snapshot(snapshot: GenerationText): UIMessageChunk[] {
    if (this.ended || snapshot.generationId !== this.generationId || snapshot.index < this.index) return [];
    const chunks = this.text(snapshot.text);
    if (snapshot.text.startsWith(this.sent)) {
      this.index = snapshot.index;
      this.behind = false;
    }
    return chunks;
  }

  /** A durable event of the generation, in seq order. */
  event(event: AnswerEvent): UIMessageChunk[] {
    if (this.ended || event.data.generationId !== this.generationId) return [];
    switch (event.type) {
      case 'ai.started':
        return [];
      case 'ai.tool_call':
        return this.toolCall(event.data);
      case 'ai.approval_requested':
        this.waitingFor = event.data.approvalId;
        return [...this.toolCall(event.data), { type: 'tool-approval-request', approvalId: event.data.approvalId, toolCallId: event.data.toolCallId }];
      case 'ai.approval_resolved':
        if (this.waitingFor === event.data.approvalId) this.waitingFor = null;
        return [{ type: 'tool-approval-response', approvalId: event.data.approvalId, approved: event.data.approved }];
      case 'ai.tool_result':
        return [...this.toolCall({ ...event.data, input: {} }), toolOutput(event.data)];
      case 'ai.completed':
        this.ended = 'completed';
        return [...this.text(event.data.text), ...this.closeText(), { type: 'finish', finishReason: 'stop' }];
      case 'ai.stopped':
        this.ended = 'stopped';
        return [...this.text(event.data.text), ...this.closeText(), { type: 'abort', reason: event.data.reason ?? 'user' }];
      case 'ai.failed': {
        this.ended = 'failed';
        const fallback = event.data.fallbackText ? `${event.data.text === '' ? '' : '\n\n'}${event.data.fallbackText}` : '';
        return [...this.text(event.data.text + fallback), ...this.closeText(), { type: 'error', errorText: `${event.data.code}: ${event.data.message}` }];
      }
    }
  }

  /**
   * Ends the response at a pending approval, so that the chat can send the user's answer (the generation waits
   * for it, and the follow-up response continues the same message). Only once the caller knows no decision
   * follows in what it is reading (live, not in a replay of the log).
   */
  endForApproval(): UIMessageChunk[] {
    if (this.ended || !this.waitingFor) return [];
    this.ended = 'approval';
    return [...this.closeText(), { type: 'finish', finishReason: 'tool-calls' }];
  }

  /** The part of `text` the client does not have yet; nothing if `text` is not a continuation of what it has. */
  private text(text: string): UIMessageChunk[] {
    if (!text.startsWith(this.sent) || text.length === this.sent.length) return [];
    const delta = text.slice(this.sent.length);
    this.sent = text;
    return [{ type: 'text-delta', id: this.textId, delta }];
  }

  private closeText(): UIMessageChunk[] {
    if (!this.textOpen) return [];
    this.textOpen = false;
    return [{ type: 'text-end', id: this.textId }];
  }

  /** The tool part, once per call (a result or an approval names its call too: a follow-up may not have seen it). */
  private toolCall(call: { toolCallId: string; toolName: string; input: Record<string, unknown> }): UIMessageChunk[] {
    if (this.knownCalls.has(call.toolCallId)) return [];
    this.knownCalls.add(call.toolCallId);
    return [
      { type: 'tool-input-start', toolCallId: call.toolCallId, toolName: call.toolName },
      { type: 'tool-input-available', toolCallId: call.toolCallId, toolName: call.toolName, input: call.input },
    ];
  }

  /** Marks a tool call as known to the client (a follow-up: the call was in the response that asked for approval). */
  knowCall(toolCallId: string): void {
    this.knownCalls.add(toolCallId);
  }
}

/** A tool's result: its output, a denial, or its failure. */
function toolOutput(data: AnswerEvent['data'] & { toolCallId: string; output?: unknown; error?: string }): UIMessageChunk {
  const failure = toolResultError(data as Parameters<typeof toolResultError>[0]);
  if (failure?.error === 'denied') return { type: 'tool-output-denied', toolCallId: data.toolCallId };
  if (failure) return { type: 'tool-output-error', toolCallId: data.toolCallId, errorText: failure.message ?? failure.error };
  return { type: 'tool-output-available', toolCallId: data.toolCallId, output: data.output ?? null };
}
