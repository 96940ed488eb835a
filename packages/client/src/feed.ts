import {
  HISTORY_MAX_LIMIT,
  parseEvent,
  type ConversationEvent,
  type OperationArgs,
  type OperationName,
  type OperationResult,
  type ParleyEvent,
  type ParleySignal,
} from '@parley/protocol';
import { Emitter, type ListenerErrorHandler } from './emitter.js';
import { ParleyClientError, closedError, toClientError } from './errors.js';
import { Subscription, type SubscribeResult, type SubscriptionEvents, type SubscriptionStatus } from './subscription.js';

/** What a feed needs from the client. */
export interface FeedHost {
  /** Sends on the current connection; undefined while there is none. */
  requestNow<Op extends OperationName>(op: Op, args: OperationArgs<Op>): Promise<OperationResult<Op>> | undefined;
  /** The delay before retry number `attempt`. */
  retryDelay(attempt: number): number;
  /** An event was delivered (for the client-wide 'event'). */
  publish(event: ParleyEvent): void;
  /** A problem worth telling the application about (client-wide 'error'). */
  report(error: Error): void;
  /** The feed ended: forget it. */
  release(feed: ConversationFeed): void;
  /** Where the subscription's emitter reports listeners that throw. */
  onListenerError: ListenerErrorHandler;
}

/** How a feed starts. */
export interface FeedOptions {
  since?: number | undefined;
  bufferSize: number;
}

/**
 * The client side of one subscribed conversation: (re)subscribes from `lastSeq` on every connection,
 * drops events it already delivered, and fetches missing ones from history before delivering later ones.
 */
export class ConversationFeed {
  readonly subscription: Subscription;
  readonly emitter: Emitter<SubscriptionEvents>;
  readonly ready: Promise<SubscribeResult>;
  readonly bufferSize: number;
  lastSeq: number | undefined;
  status: SubscriptionStatus = 'subscribing';
  endError: Error | undefined;
  private readonly pending: ConversationEvent[] = [];
  private draining = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private settleReady = { resolve: (_result: SubscribeResult) => {}, reject: (_error: Error) => {} };

  constructor(
    readonly conversationId: string,
    options: FeedOptions,
    private readonly host: FeedHost,
  ) {
    this.lastSeq = options.since;
    this.bufferSize = options.bufferSize;
    this.emitter = new Emitter<SubscriptionEvents>(host.onListenerError);
    this.ready = new Promise<SubscribeResult>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => {});
    this.subscription = new Subscription(this);
  }

  /** Subscribes on the current connection, resuming after `lastSeq`; called on every (re)connect. */
  activate(): void {
    if (this.status === 'ended') return;
    this.clearRetry();
    this.status = 'subscribing';
    // Whatever was waiting for a gap fill is replayed by the server after `since`.
    this.pending.length = 0;
    const since = this.lastSeq;
    const args = since === undefined ? { conversationId: this.conversationId } : { conversationId: this.conversationId, since };
    this.host.requestNow('subscribe', args)?.then(
      (result) => this.subscribed(result),
      (error: unknown) => this.subscribeFailed(toClientError(error)),
    );
  }

  /** The connection dropped: wait for the next `activate`. */
  suspend(): void {
    if (this.status === 'ended') return;
    this.clearRetry();
    this.status = 'subscribing';
  }

  /** An event pushed by the server, delivered once its predecessors have been. */
  receive(event: ConversationEvent): void {
    if (this.status === 'ended') return;
    this.pending.push(event);
    void this.drain();
  }

  /** A signal pushed by the server, already read against the catalogue. */
  receiveSignal(signal: ParleySignal): void {
    if (this.status !== 'ended') this.emitter.emit('signal', signal);
  }

  /** Ends the feed: without an error when unsubscribed or closed, with one when it failed. */
  end(error?: Error): void {
    if (this.status === 'ended') return;
    this.status = 'ended';
    this.endError = error;
    this.clearRetry();
    this.pending.length = 0;
    this.host.release(this);
    this.settleReady.reject(error ?? closedError('unsubscribed before the server confirmed'));
    if (error) this.emitter.emit('error', error);
    this.emitter.emit('end', error);
  }

  /** Ends the feed and tells the server, if connected; server errors do not matter any more. */
  async unsubscribe(): Promise<void> {
    if (this.status === 'ended') return;
    this.end();
    await this.host.requestNow('unsubscribe', { conversationId: this.conversationId })?.catch(() => undefined);
  }

  private subscribed(result: SubscribeResult): void {
    if (this.status === 'ended') return;
    this.attempt = 0;
    this.status = 'active';
    if (this.lastSeq === undefined) this.lastSeq = result.headSeq;
    else if (result.headSeq < this.lastSeq) {
      this.report(new ParleyClientError('conflict', `the server's head of ${this.conversationId} (${result.headSeq}) is behind lastSeq ${this.lastSeq}`));
    }
    this.settleReady.resolve(result);
    void this.drain();
  }

  private subscribeFailed(error: ParleyClientError): void {
    if (this.status === 'ended' || error.code === 'disconnected') return; // resumed on reconnect
    if (!error.retryable) {
      this.host.report(error);
      return this.end(error);
    }
    this.report(error);
    this.retryLater(error, () => this.activate());
  }

  private async drain(): Promise<void> {
    // A pending retry timer drains when it fires; draining earlier would ignore the server's retryAfterMs.
    if (this.draining || this.lastSeq === undefined || this.retryTimer !== undefined) return;
    this.draining = true;
    try {
      while (this.status !== 'ended') {
        const event = this.pending[0];
        if (!event) return;
        if (event.seq > this.lastSeq + 1) {
          if (!(await this.fill(this.lastSeq, event.seq))) return;
          continue;
        }
        this.pending.shift();
        if (event.seq === this.lastSeq + 1) this.deliver(event);
        // Older seqs were delivered already: duplicates.
      }
    } finally {
      this.draining = false;
    }
  }

  /** Fetches and delivers (a page of) the events between `after` and `seq`; false when it could not (retried later). */
  private async fill(after: number, seq: number): Promise<boolean> {
    const limit = Math.min(HISTORY_MAX_LIMIT, seq - 1 - after);
    const reply = this.host.requestNow('history', { conversationId: this.conversationId, after, limit });
    if (!reply) return false; // offline: the resume after reconnecting replays the gap
    let events: ConversationEvent[];
    try {
      events = (await reply).events;
    } catch (error) {
      this.fillFailed(toClientError(error));
      return false;
    }
    if (this.status === 'ended' || this.lastSeq !== after) return this.status !== 'ended';
    for (const event of [...events].sort((left, right) => left.seq - right.seq)) {
      if (event.seq === this.lastSeq + 1 && event.seq < seq) this.deliver(event);
    }
    if (this.lastSeq === after) {
      // The server has nothing to fill the gap with: deliver what follows rather than stall forever.
      this.report(new ParleyClientError('internal', `events ${after + 1}..${seq - 1} of ${this.conversationId} are missing from history`));
      this.lastSeq = seq - 1;
    }
    return true;
  }

  private fillFailed(error: ParleyClientError): void {
    if (this.status === 'ended' || error.code === 'disconnected') return;
    this.report(error);
    this.retryLater(error, () => void this.drain());
  }

  /**
   * Delivers the next event, typed by the catalogue. An event of a known type whose data does not match it is
   * reported ('error', with the event on it) instead of delivered as typed; its seq counts as delivered.
   */
  private deliver(event: ConversationEvent): void {
    this.lastSeq = event.seq;
    const parsed = parseEvent(event);
    if (!parsed.ok) return this.report(parsed.error);
    this.emitter.emit('event', parsed.event);
    this.host.publish(parsed.event);
  }

  private retryLater(error: ParleyClientError, action: () => void): void {
    this.clearRetry();
    const delay = error.retryAfterMs ?? this.host.retryDelay(this.attempt++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      action();
    }, delay);
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private report(error: Error): void {
    this.emitter.emit('error', error);
    this.host.report(error);
  }
}
