import type { JobReservation } from '../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../core/types.js';

/** What the admission of a committed message hands to the answer reaction of its node. */
export interface AdmittedAnswer {
  /** The place taken in the queue before the commit. */
  reservation: JobReservation;
  profileId: string;
  /** When the message was admitted (ms since the epoch), for the queue-wait metric. */
  admittedAt: number;
  /** The trace of the message's send, which the answer joins. */
  traceparent?: string;
  /** Admitted while queued for a team that is closed until then (see AiJob). */
  closedUntil?: number;
}

/**
 * The reservations of committed messages, by conversation and seq, until this node's answer reaction takes
 * them. One not taken within `holdMs` (another node's reaction submitted the job without it, or none runs
 * here) is cancelled, so that the queue gets its place back.
 */
export class AdmittedAnswers {
  private readonly held = new Map<string, { answer: AdmittedAnswer; timer: ReturnType<typeof setTimeout> }>();

  constructor(
    private readonly holdMs: number,
    private readonly cancel: (reservation: JobReservation) => void,
  ) {}

  /** Keeps the reservation of message `seq` for the reaction. */
  hold(key: ConversationKey, seq: number, answer: AdmittedAnswer): void {
    const name = nameOf(key, seq);
    const previous = this.held.get(name);
    if (previous) this.cancel(previous.answer.reservation);
    this.drop(name);
    const timer = setTimeout(() => {
      this.held.delete(name);
      this.cancel(answer.reservation);
    }, this.holdMs);
    timer.unref();
    this.held.set(name, { answer, timer });
  }

  /** The reservation of message `seq`, if this node holds it; it is the caller's from now on. */
  take(key: ConversationKey, seq: number): AdmittedAnswer | undefined {
    const name = nameOf(key, seq);
    const entry = this.held.get(name);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.held.delete(name);
    return entry.answer;
  }

  /** Cancels every reservation still held (shutdown). */
  clear(): void {
    for (const [name, entry] of this.held) {
      this.drop(name);
      this.cancel(entry.answer.reservation);
    }
  }

  private drop(name: string): void {
    const entry = this.held.get(name);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.held.delete(name);
  }
}

function nameOf(key: ConversationKey, seq: number): string {
  return `${conversationKeyString(key)}#${seq}`;
}
