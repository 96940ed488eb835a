import type { AnswerSource, KnownEvent, ParleyEvent, ParleySignal } from '@parley/protocol';
import { Emitter, type Listener } from './emitter.js';
import { EventQueue } from './event-queue.js';
import type { Subscription } from './subscription.js';

/** Where an AI answer stands. */
export type GenerationStatus = 'streaming' | 'completed' | 'stopped' | 'failed';

/** One AI answer as assembled so far. */
export interface GenerationState {
  generationId: string;
  status: GenerationStatus;
  /** The text so far; once the answer ended, the text its final event carries. */
  text: string;
  /** The seq of the message it answers. */
  replyTo: number | undefined;
  /** For `failed`: the error code, message and the profile's fallback text, if any. */
  error?: { code: string; message: string; fallbackText?: string };
  /** For `completed`: the knowledge-base passages the answer cites as `[n]` (absent when it cites none). */
  sources?: AnswerSource[];
}

interface Assembly {
  state: GenerationState;
  /** Index of the last delta applied; -1 before the first. */
  index: number;
  /** Deltas that arrived ahead of a missing one, by index. */
  ahead: Map<number, string>;
}

/** The events of a generation; each names it by `generationId`. */
const GENERATION_EVENT_TYPES = ['ai.started', 'ai.tool_call', 'ai.tool_result', 'ai.approval_requested', 'ai.approval_resolved', 'ai.completed', 'ai.stopped', 'ai.failed'] as const;
type GenerationEvent = KnownEvent<(typeof GENERATION_EVENT_TYPES)[number]>;
type EndEvent = KnownEvent<'ai.completed' | 'ai.stopped' | 'ai.failed'>;

const END_STATUS: Record<EndEvent['type'], GenerationStatus> = { 'ai.completed': 'completed', 'ai.stopped': 'stopped', 'ai.failed': 'failed' };

/**
 * Assembles the AI answers of one subscription from `ai.started`, `ai.snapshot`, `ai.delta` and the
 * final event. Deltas are applied by index: repeats are dropped, early ones wait for the missing one or for
 * a snapshot, so the text has no duplicated or missing token, also after a reconnect mid-answer.
 */
export class Generations implements AsyncIterable<GenerationState> {
  private readonly assemblies = new Map<string, Assembly>();
  private readonly emitter: Emitter<{ update: GenerationState }>;
  private readonly detach: Array<() => void>;

  /** @param onListenerError receives what an `update` listener threw; by default it is rethrown outside the listener loop. */
  constructor(subscription: Pick<Subscription, 'on'>, onListenerError: (error: unknown) => void = rethrowLater) {
    this.emitter = new Emitter<{ update: GenerationState }>(onListenerError);
    this.detach = [subscription.on('event', (event) => this.onEvent(event)), subscription.on('signal', (signal) => this.onSignal(signal))];
  }

  /** Called with a copy of a generation's state whenever it changes. */
  on(type: 'update', listener: Listener<GenerationState>): () => void {
    return this.emitter.on(type, listener);
  }

  /** The current state of a generation. */
  get(generationId: string): GenerationState | undefined {
    const assembly = this.assemblies.get(generationId);
    return assembly ? { ...assembly.state } : undefined;
  }

  /** Every update from now on (a bounded buffer of 1000; a consumer further behind gets `busy`). */
  [Symbol.asyncIterator](): AsyncIterator<GenerationState> {
    const queue: EventQueue<GenerationState> = new EventQueue<GenerationState>(1000, () => stop());
    const stop = this.on('update', (state) => queue.push(state));
    return queue;
  }

  /** Stops listening to the subscription. */
  close(): void {
    for (const detach of this.detach) detach();
  }

  private onEvent(event: ParleyEvent): void {
    if (!isGenerationEvent(event)) return;
    const assembly = this.assembly(event.data.generationId, event.causation?.replyTo);
    if (!isEndEvent(event) || assembly.state.status !== 'streaming') return;
    assembly.state.status = END_STATUS[event.type];
    assembly.state.text = event.data.text;
    if (event.type === 'ai.failed') {
      const { code, message, fallbackText } = event.data;
      assembly.state.error = { code, message, ...(fallbackText !== undefined ? { fallbackText } : {}) };
    }
    if (event.type === 'ai.completed' && event.data.sources) assembly.state.sources = event.data.sources;
    assembly.ahead.clear();
    this.emit(assembly);
  }

  private onSignal(signal: ParleySignal): void {
    if (signal.type !== 'ai.delta' && signal.type !== 'ai.snapshot') return;
    const { generationId, index, text } = signal.data;
    const assembly = this.assembly(generationId, undefined);
    if (assembly.state.status !== 'streaming') return;
    if (signal.type === 'ai.snapshot') {
      if (index <= assembly.index) return;
      assembly.state.text = text;
      assembly.index = index;
    } else if (index <= assembly.index) {
      return;
    } else {
      assembly.ahead.set(index, text);
    }
    this.applyAhead(assembly);
    this.emit(assembly);
  }

  private applyAhead(assembly: Assembly): void {
    for (const index of [...assembly.ahead.keys()]) if (index <= assembly.index) assembly.ahead.delete(index);
    for (let next = assembly.ahead.get(assembly.index + 1); next !== undefined; next = assembly.ahead.get(assembly.index + 1)) {
      assembly.ahead.delete(assembly.index + 1);
      assembly.state.text += next;
      assembly.index++;
    }
  }

  private assembly(generationId: string, replyTo: number | undefined): Assembly {
    let assembly = this.assemblies.get(generationId);
    if (!assembly) {
      assembly = { state: { generationId, status: 'streaming', text: '', replyTo }, index: -1, ahead: new Map() };
      this.assemblies.set(generationId, assembly);
    }
    assembly.state.replyTo ??= replyTo;
    return assembly;
  }

  private emit(assembly: Assembly): void {
    this.emitter.emit('update', { ...assembly.state });
  }
}

function isGenerationEvent(event: ParleyEvent): event is GenerationEvent {
  return (GENERATION_EVENT_TYPES as readonly string[]).includes(event.type);
}

function isEndEvent(event: GenerationEvent): event is EndEvent {
  return Object.hasOwn(END_STATUS, event.type);
}

function rethrowLater(error: unknown): void {
  setTimeout(() => {
    throw error;
  });
}
