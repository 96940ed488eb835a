import type { ConversationEvent, Signal } from '@parley/protocol';
import type { Bus, BusMessage } from '../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../core/types.js';
import { traceDelivery, tracingEnabled } from '../observability/tracing.js';

/** A local receiver of one conversation's live traffic (a session's subscription). */
export interface HubSubscriber {
  onEvent(event: ConversationEvent): void;
  onSignal(signal: Signal): void;
  /** Live traffic may have been lost (the bus re-subscribed, or became live after the subscriber started): read what was missed from the log. */
  onGap(): void;
}

/** What the hub tells its owner (logs, metrics); every member optional. */
export interface HubObserver {
  /** The node could not subscribe to a conversation on the bus; it tries again, and its subscribers are served from the log meanwhile. */
  busSubscribeFailed?(error: unknown): void;
}

/** Timings of the hub; the defaults suit production, tests shorten them. */
export interface HubOptions {
  /** How long a new subscriber waits for the node's bus subscription before it is served from the log alone. */
  busWaitMs?: number;
  /** First and longest pause between attempts to subscribe on a bus that refuses. */
  retryMs?: { first: number; max: number };
}

const DEFAULT_BUS_WAIT_MS = 500;
const DEFAULT_RETRY_MS = { first: 100, max: 5000 };

interface Channel {
  readonly key: ConversationKey;
  readonly subscribers: Set<HubSubscriber>;
  /** Subscribers let in before the bus subscription was live: they read the log again once it is. */
  readonly behind: Set<HubSubscriber>;
  /** Set once the node is subscribed on the bus. */
  unsubscribe: (() => Promise<void>) | null;
  /** Resolves once the node is subscribed on the bus; never rejects. */
  readonly live: Promise<void>;
  /** Everyone left: a bus subscription still under way is undone when it completes. */
  closed: boolean;
}

/**
 * Who is subscribed to what on this node. The node subscribes to a conversation's bus channel when its
 * first local subscriber arrives and unsubscribes with the last, so it never receives other nodes' traffic.
 *
 * The bus may be down (Redis unreachable): a subscriber is never refused or held for it. It waits for the
 * bus subscription at most `busWaitMs`, then is served from the log (the store has every committed event)
 * while the node keeps subscribing in the background; once live, every subscriber that started without it
 * reads the log again (`onGap`), so whatever was published before the node heard it is not lost. Its
 * OrderedFeed drops what it already has by seq.
 */
export class Hub {
  private readonly channels = new Map<string, Channel>();
  /** Bus unsubscribes under way: a new first subscriber waits for them (up to busWaitMs), so the two seldom overlap on the bus. */
  private readonly leaving = new Map<string, Promise<void>>();
  private readonly busWaitMs: number;
  private readonly retryMs: { first: number; max: number };

  constructor(
    private readonly bus: Bus,
    private readonly observer: HubObserver = {},
    options: HubOptions = {},
  ) {
    this.busWaitMs = options.busWaitMs ?? DEFAULT_BUS_WAIT_MS;
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
    bus.onResubscribed(() => {
      for (const channel of this.channels.values()) for (const subscriber of channel.subscribers) subscriber.onGap();
    });
  }

  /**
   * Adds a subscriber. Resolves once live events reach it, or after busWaitMs if the bus has not subscribed
   * by then; in that case the subscriber gets `onGap` when the bus subscription becomes live. Never rejects.
   */
  async attach(key: ConversationKey, subscriber: HubSubscriber): Promise<void> {
    const name = conversationKeyString(key);
    if (!this.channels.has(name)) await within(this.leaving.get(name), this.busWaitMs);
    const channel = this.channels.get(name) ?? this.open(name, key);
    channel.subscribers.add(subscriber);
    if (channel.unsubscribe) return;
    await within(channel.live, this.busWaitMs);
    // Live by now: its catch-up, which starts after this, reads everything published before. Else it reads again once live.
    if (!channel.unsubscribe && channel.subscribers.has(subscriber)) channel.behind.add(subscriber);
  }

  /** Removes a subscriber; with the last one, the node unsubscribes from the conversation on the bus. */
  async detach(key: ConversationKey, subscriber: HubSubscriber): Promise<void> {
    const name = conversationKeyString(key);
    const channel = this.channels.get(name);
    if (!channel?.subscribers.delete(subscriber)) return;
    channel.behind.delete(subscriber);
    if (channel.subscribers.size > 0) return;
    this.channels.delete(name);
    channel.closed = true;
    // Not subscribed yet: the subscription under way undoes itself when it completes.
    if (!channel.unsubscribe) return;
    const leaving = channel.unsubscribe();
    const settled = leaving.catch(() => undefined);
    this.leaving.set(name, settled);
    try {
      await leaving;
    } finally {
      if (this.leaving.get(name) === settled) this.leaving.delete(name);
    }
  }

  /**
   * Hands a committed event to this node's subscribers of its conversation directly, because its publish on the
   * bus failed (Redis down) and none of them would hear of it otherwise. Their feeds drop it, by seq, if the
   * bus delivers it after all.
   */
  deliverLocally(event: ConversationEvent): void {
    const channel = this.channels.get(conversationKeyString({ tenant: event.tenant, conversationId: event.conversation }));
    if (channel) dispatch(channel.subscribers, { kind: 'event', event });
  }

  /** Conversations this node has local subscribers of. */
  get size(): number {
    return this.channels.size;
  }

  /** Conversations with local subscribers whose bus subscription is not live (the bus is down or slow). */
  get pending(): number {
    let count = 0;
    for (const channel of this.channels.values()) if (!channel.unsubscribe) count++;
    return count;
  }

  private open(name: string, key: ConversationKey): Channel {
    let markLive!: () => void;
    const live = new Promise<void>((resolve) => (markLive = resolve));
    const channel: Channel = { key, subscribers: new Set(), behind: new Set(), unsubscribe: null, live, closed: false };
    this.channels.set(name, channel);
    void this.subscribeOnBus(channel).then(markLive);
    return channel;
  }

  /** Subscribes the node to the channel's conversation, retrying with backoff while anyone is left to serve. */
  private async subscribeOnBus(channel: Channel): Promise<void> {
    for (let pause = this.retryMs.first; !channel.closed; pause = Math.min(pause * 2, this.retryMs.max)) {
      try {
        const unsubscribe = await this.bus.subscribe(channel.key, (message) => deliver(channel.subscribers, message));
        if (channel.closed) return void (await unsubscribe().catch(() => undefined));
        channel.unsubscribe = unsubscribe;
        for (const subscriber of channel.behind) subscriber.onGap();
        channel.behind.clear();
        return;
      } catch (error) {
        this.observer.busSubscribeFailed?.(error);
        await new Promise((resolve) => setTimeout(resolve, pause).unref());
      }
    }
  }
}

/** Waits for `promise`, but at most `ms`; never rejects. */
async function within(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!promise) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([promise.then(() => undefined, () => undefined), timeout]);
  clearTimeout(timer);
}

/** With tracing on, an event's fan-out on this node is one `parley.deliver` span; off, nothing is allocated for it. */
function deliver(subscribers: Set<HubSubscriber>, message: BusMessage): void {
  if (message.kind === 'event' && tracingEnabled()) traceDelivery(message.event, subscribers.size, () => dispatch(subscribers, message));
  else dispatch(subscribers, message);
}

function dispatch(subscribers: Set<HubSubscriber>, message: BusMessage): void {
  for (const subscriber of subscribers) {
    if (message.kind === 'event') subscriber.onEvent(message.event);
    else subscriber.onSignal(message.signal);
  }
}
