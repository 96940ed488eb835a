import type { ConversationEvent, Signal } from '@parley/protocol';
import type { Bus, BusMessage } from '../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../core/types.js';
import { traceDelivery, tracingEnabled } from '../observability/tracing.js';

/** A local receiver of one conversation's live traffic (a session's subscription). */
export interface HubSubscriber {
  onEvent(event: ConversationEvent): void;
  onSignal(signal: Signal): void;
  /** Live traffic may have been lost (the bus re-subscribed): read what was missed from the log. */
  onGap(): void;
}

interface Channel {
  subscribers: Set<HubSubscriber>;
  /** Resolves once the node is subscribed on the bus; rejects if that failed. */
  ready: Promise<() => Promise<void>>;
}

/**
 * Who is subscribed to what on this node. The node subscribes to a conversation's bus channel when its
 * first local subscriber arrives and unsubscribes with the last, so it never receives other nodes' traffic.
 */
export class Hub {
  private readonly channels = new Map<string, Channel>();
  /** Bus unsubscribes under way: a new first subscriber waits for them, so the two never overlap on the bus. */
  private readonly leaving = new Map<string, Promise<void>>();

  constructor(private readonly bus: Bus) {
    bus.onResubscribed(() => {
      for (const channel of this.channels.values()) for (const subscriber of channel.subscribers) subscriber.onGap();
    });
  }

  /** Adds a subscriber; resolves once live events reach it. On failure nothing is left registered. */
  async attach(key: ConversationKey, subscriber: HubSubscriber): Promise<void> {
    const name = conversationKeyString(key);
    if (!this.channels.has(name)) await this.leaving.get(name);
    let channel = this.channels.get(name);
    if (!channel) {
      const subscribers = new Set<HubSubscriber>();
      channel = { subscribers, ready: this.bus.subscribe(key, (message) => deliver(subscribers, message)) };
      this.channels.set(name, channel);
    }
    channel.subscribers.add(subscriber);
    try {
      await channel.ready;
    } catch (error) {
      channel.subscribers.delete(subscriber);
      if (this.channels.get(name) === channel) this.channels.delete(name);
      throw error;
    }
  }

  async detach(key: ConversationKey, subscriber: HubSubscriber): Promise<void> {
    const name = conversationKeyString(key);
    const channel = this.channels.get(name);
    if (!channel?.subscribers.delete(subscriber) || channel.subscribers.size > 0) return;
    this.channels.delete(name);
    const leaving = channel.ready.then(
      (unsubscribe) => unsubscribe(),
      () => undefined,
    );
    this.leaving.set(name, leaving);
    try {
      await leaving;
    } finally {
      if (this.leaving.get(name) === leaving) this.leaving.delete(name);
    }
  }

  /** Conversations this node is subscribed to. */
  get size(): number {
    return this.channels.size;
  }
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
