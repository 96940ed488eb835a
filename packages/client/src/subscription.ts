import type { OperationResult, ParleyEvent, ParleySignal } from '@parley/protocol';
import type { Emitter, Listener } from './emitter.js';
import { EventQueue } from './event-queue.js';
import type { ParleyStaffEvent } from './staff-events.js';

/** What a Subscription emits. */
export interface SubscriptionEvents {
  /**
   * A durable event, in seq order, each exactly once: typed by the catalogue (`switch (event.type)` narrows
   * `data`), or, for a type this SDK does not know, as it came.
   */
  event: ParleyEvent;
  /**
   * A staff-only event (note, summary, sentiment, routing decision), in `staffSeq` order, each exactly once;
   * only on subscriptions made with `staff: true` (agents and admins).
   */
  staffEvent: ParleyStaffEvent;
  /** An ephemeral signal of this conversation (typing, presence, AI deltas), typed the same way. */
  signal: ParleySignal;
  /** Something went wrong; non-fatal unless followed by 'end'. An event or signal whose data does not match its type comes here (`InvalidDataError`). */
  error: Error;
  /** The subscription is over: unsubscribed, client closed (no error) or failed (the error). */
  end: Error | undefined;
}

/** Where a subscription stands: waiting for the server to confirm it (again, after a reconnect), live, or over. */
export type SubscriptionStatus = 'subscribing' | 'active' | 'ended';

/** The result of the server's `subscribe` reply. */
export type SubscribeResult = OperationResult<'subscribe'>;

/** The client-side machinery behind a Subscription (implemented by the client's per-conversation feed). */
export interface SubscriptionSource {
  readonly conversationId: string;
  readonly lastSeq: number | undefined;
  readonly lastStaffSeq: number | undefined;
  readonly status: SubscriptionStatus;
  readonly endError: Error | undefined;
  readonly ready: Promise<SubscribeResult>;
  readonly emitter: Emitter<SubscriptionEvents>;
  readonly bufferSize: number;
  unsubscribe(): Promise<void>;
}

/**
 * A live, resumable feed of one conversation's events. Survives reconnects: the client re-subscribes
 * from `lastSeq`, drops duplicates and fills gaps, so listeners see every event once, in order.
 */
export class Subscription implements AsyncIterable<ParleyEvent> {
  constructor(private readonly source: SubscriptionSource) {}

  /** The conversation this subscription follows. */
  get conversationId(): string {
    return this.source.conversationId;
  }

  /** The seq of the last event delivered; undefined until the server reports the head (when subscribed without `since`). */
  get lastSeq(): number | undefined {
    return this.source.lastSeq;
  }

  /** The staff seq of the last staff-only event delivered; undefined unless subscribed with `staff: true`. */
  get lastStaffSeq(): number | undefined {
    return this.source.lastStaffSeq;
  }

  /** Whether the server has confirmed the subscription on the current connection. */
  get status(): SubscriptionStatus {
    return this.source.status;
  }

  /** Resolves with the first `subscribe` reply; rejects if the subscription ends before (e.g. not_found, forbidden). */
  get ready(): Promise<SubscribeResult> {
    return this.source.ready;
  }

  /** Adds a listener; returns a function that removes it. */
  on<Type extends keyof SubscriptionEvents>(type: Type, listener: Listener<SubscriptionEvents[Type]>): () => void {
    return this.source.emitter.on(type, listener);
  }

  /** Removes a listener added with `on`. */
  off<Type extends keyof SubscriptionEvents>(type: Type, listener: Listener<SubscriptionEvents[Type]>): void {
    this.source.emitter.off(type, listener);
  }

  /**
   * The events delivered from now on, until the subscription ends. Buffers up to `bufferSize` events; a consumer
   * further behind gets those, then a `busy` error (listeners and other iterators are not affected).
   */
  [Symbol.asyncIterator](): AsyncIterator<ParleyEvent> {
    const stops: Array<() => void> = [];
    const queue = new EventQueue<ParleyEvent>(this.source.bufferSize, () => stops.forEach((stop) => stop()));
    if (this.source.status === 'ended') {
      queue.end(this.source.endError);
      return queue;
    }
    stops.push(
      this.on('event', (event) => queue.push(event)),
      this.on('end', (error) => queue.end(error)),
    );
    return queue;
  }

  /** Stops following the conversation; iterators end after their buffered events. Resolves when the server confirmed (or at once if offline). */
  unsubscribe(): Promise<void> {
    return this.source.unsubscribe();
  }
}
