import {
  parseEvent,
  type ConversationEvent,
  type OperationArgs,
  type OperationName,
  type OperationResult,
  type ParleyEvent,
  type ParleySignal,
  type StaffEvent,
} from '@parley/protocol';
import { Emitter, type ListenerErrorHandler } from './emitter.js';
import { ParleyClientError, closedError, toClientError } from './errors.js';
import { SequenceTrack } from './sequence-track.js';
import { parseStaffEvent, type ParleyStaffEvent } from './staff-events.js';
import { Subscription, type SubscribeResult, type SubscriptionEvents, type SubscriptionStatus } from './subscription.js';

/** What a feed needs from the client. */
export interface FeedHost {
  /** Sends on the current connection; undefined while there is none. */
  requestNow<Op extends OperationName>(op: Op, args: OperationArgs<Op>): Promise<OperationResult<Op>> | undefined;
  /** The delay before retry number `attempt`. */
  retryDelay(attempt: number): number;
  /** An event was delivered (for the client-wide 'event'). */
  publish(event: ParleyEvent): void;
  /** A staff-only event was delivered (for the client-wide 'staffEvent'). */
  publishStaff(event: ParleyStaffEvent): void;
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
  /** The staff seq to follow staff-only events from; undefined: no staff events. */
  staffSince?: number | undefined;
  bufferSize: number;
}

/**
 * The client side of one subscribed conversation: (re)subscribes from `lastSeq` (and `lastStaffSeq` when it
 * follows staff events) on every connection, drops what it already delivered, and fetches missing events from
 * history before delivering later ones.
 */
export class ConversationFeed {
  readonly subscription: Subscription;
  readonly emitter: Emitter<SubscriptionEvents>;
  readonly ready: Promise<SubscribeResult>;
  readonly bufferSize: number;
  status: SubscriptionStatus = 'subscribing';
  endError: Error | undefined;
  private readonly events: SequenceTrack<ConversationEvent>;
  private readonly staff: SequenceTrack<StaffEvent> | undefined;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private settleReady = { resolve: (_result: SubscribeResult) => {}, reject: (_error: Error) => {} };

  constructor(
    readonly conversationId: string,
    options: FeedOptions,
    private readonly host: FeedHost,
  ) {
    this.bufferSize = options.bufferSize;
    this.emitter = new Emitter<SubscriptionEvents>(host.onListenerError);
    this.ready = new Promise<SubscribeResult>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => {});
    this.events = this.eventTrack(options.since);
    this.staff = options.staffSince === undefined ? undefined : this.staffTrack(options.staffSince);
    this.subscription = new Subscription(this);
  }

  /** The seq of the last event delivered. */
  get lastSeq(): number | undefined {
    return this.events.last;
  }

  /** The staff seq of the last staff event delivered; undefined when the feed does not follow staff events. */
  get lastStaffSeq(): number | undefined {
    return this.staff?.last;
  }

  /** Subscribes on the current connection, resuming after `lastSeq` (and `lastStaffSeq`); called on every (re)connect. */
  activate(): void {
    if (this.status === 'ended') return;
    this.clearRetry();
    this.status = 'subscribing';
    // Whatever was waiting for a gap fill is replayed by the server after `since` / `staffSince`.
    this.events.reset();
    this.staff?.reset();
    const args: OperationArgs<'subscribe'> = { conversationId: this.conversationId };
    if (this.events.last !== undefined) args.since = this.events.last;
    if (this.staff?.last !== undefined) args.staffSince = this.staff.last;
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
    if (this.status !== 'ended') this.events.receive(event);
  }

  /** A staff-only event pushed by the server; ignored unless this feed follows staff events. */
  receiveStaff(event: StaffEvent): void {
    if (this.status !== 'ended') this.staff?.receive(event);
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
    this.events.reset();
    this.staff?.reset();
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

  private eventTrack(since: number | undefined): SequenceTrack<ConversationEvent> {
    return new SequenceTrack<ConversationEvent>(`events of ${this.conversationId}`, since, {
      seqOf: (event) => event.seq,
      fetch: (after, limit) => this.host.requestNow('history', { conversationId: this.conversationId, after, limit })?.then((page) => page.events),
      deliver: (event) => this.deliver(event),
      ...this.trackHooks(),
    });
  }

  private staffTrack(since: number): SequenceTrack<StaffEvent> {
    return new SequenceTrack<StaffEvent>(`staff events of ${this.conversationId}`, since, {
      seqOf: (event) => event.staffSeq,
      fetch: (after, limit) => this.host.requestNow('support.staffHistory', { conversationId: this.conversationId, after, limit })?.then((page) => page.events),
      deliver: (event) => this.deliverStaff(event),
      ...this.trackHooks(),
    });
  }

  private trackHooks() {
    return {
      // A pending retry timer drains when it fires; draining earlier would ignore the server's retryAfterMs.
      canDrain: () => this.status !== 'ended' && this.retryTimer === undefined,
      fetchFailed: (error: ParleyClientError) => this.fetchFailed(error),
      report: (error: ParleyClientError) => this.report(error),
    };
  }

  private subscribed(result: SubscribeResult): void {
    if (this.status === 'ended') return;
    this.attempt = 0;
    this.status = 'active';
    if (this.events.last === undefined) this.events.last = result.headSeq;
    else if (result.headSeq < this.events.last) {
      this.report(new ParleyClientError('conflict', `the server's head of ${this.conversationId} (${result.headSeq}) is behind lastSeq ${this.events.last}`));
    }
    this.settleReady.resolve(result);
    this.drainAll();
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

  private fetchFailed(error: ParleyClientError): void {
    if (this.status === 'ended' || error.code === 'disconnected') return;
    this.report(error);
    this.retryLater(error, () => this.drainAll());
  }

  private drainAll(): void {
    void this.events.drain();
    void this.staff?.drain();
  }

  /**
   * Delivers the next event, typed by the catalogue. An event of a known type whose data does not match it is
   * reported ('error', with the event on it) instead of delivered as typed; its seq counts as delivered.
   */
  private deliver(event: ConversationEvent): void {
    const parsed = parseEvent(event);
    if (!parsed.ok) return this.report(parsed.error);
    this.emitter.emit('event', parsed.event);
    this.host.publish(parsed.event);
  }

  /** Delivers the next staff event, typed as `deliver` types events. */
  private deliverStaff(event: StaffEvent): void {
    const parsed = parseStaffEvent(event);
    if (!parsed.ok) return this.report(parsed.error);
    this.emitter.emit('staffEvent', parsed.event);
    this.host.publishStaff(parsed.event);
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
