import type { ConversationEvent, Signal } from '@parley/protocol';
import type { Bus, BusListener, BusMessage, ControlMessage, HotLogRange } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

interface HotLog {
  events: ConversationEvent[];
  bytes: number;
}

/**
 * The Bus of a single process: listeners called synchronously, a capped hot log per conversation.
 * Hot logs are bounded twice: `hotLogSize` events per conversation, and `maxBytes` in all, beyond
 * which the logs of the least recently active conversations are dropped (reads then use the store).
 */
export class MemoryBus implements Bus {
  private readonly listeners = new Map<string, Set<BusListener>>();
  /** In order of last activity, oldest first. */
  private readonly hotLogs = new Map<string, HotLog>();
  private totalBytes = 0;

  /**
   * @param hotLogSize events kept per conversation
   * @param maxBytes approximate bytes of all hot logs together
   */
  constructor(
    private readonly hotLogSize: number,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  async publishEvent(event: ConversationEvent): Promise<void> {
    const key = conversationKeyString({ tenant: event.tenant, conversationId: event.conversation });
    this.addToHotLog(key, event);
    this.deliver(key, { kind: 'event', event });
  }

  async publishSignal(signal: Signal): Promise<void> {
    this.deliver(conversationKeyString({ tenant: signal.tenant, conversationId: signal.conversation }), { kind: 'signal', signal });
  }

  async subscribe(key: ConversationKey, listener: BusListener): Promise<() => Promise<void>> {
    const channel = conversationKeyString(key);
    const set = this.listeners.get(channel) ?? new Set<BusListener>();
    set.add(listener);
    this.listeners.set(channel, set);
    return async () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(channel) === set) this.listeners.delete(channel);
    };
  }

  async readHotLog(key: ConversationKey, after: number, limit: number): Promise<HotLogRange> {
    const log = this.hotLogs.get(conversationKeyString(key))?.events ?? [];
    const events = log.filter((event) => event.seq > after).slice(0, limit);
    const first = log[0];
    // Complete only if the log still reaches back to `after + 1` (nothing trimmed in between).
    return { events, complete: first !== undefined && first.seq <= after + 1 };
  }

  /** An in-process bus never loses its subscriptions. */
  onResubscribed(): void {}

  private readonly controlListeners: Array<(message: ControlMessage) => void> = [];

  async publishControl(message: ControlMessage): Promise<void> {
    for (const listener of this.controlListeners) listener(message);
  }

  onControl(listener: (message: ControlMessage) => void): void {
    this.controlListeners.push(listener);
  }

  private readonly topicListeners = new Map<string, Array<(message: unknown) => void>>();

  async publishTopic(topic: string, message: unknown): Promise<void> {
    for (const listener of this.topicListeners.get(topic) ?? []) listener(message);
  }

  async onTopic(topic: string, listener: (message: unknown) => void): Promise<void> {
    const listeners = this.topicListeners.get(topic) ?? [];
    listeners.push(listener);
    this.topicListeners.set(topic, listeners);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.topicListeners.clear();
    this.hotLogs.clear();
    this.totalBytes = 0;
  }

  /** Approximate bytes held by all hot logs. */
  get hotLogBytes(): number {
    return this.totalBytes;
  }

  private addToHotLog(key: string, event: ConversationEvent): void {
    if (this.hotLogSize === 0) return;
    const log = this.hotLogs.get(key) ?? { events: [], bytes: 0 };
    this.hotLogs.delete(key); // re-inserted last: the most recently active
    this.hotLogs.set(key, log);
    // Publishers may race: keep the log sorted by seq and free of duplicates.
    const events = log.events;
    let index = events.length;
    while (index > 0 && events[index - 1]!.seq > event.seq) index--;
    if (events[index - 1]?.seq === event.seq) return;
    events.splice(index, 0, event);
    this.resize(log, sizeOf(event));
    while (events.length > this.hotLogSize) this.resize(log, -sizeOf(events.shift()!));
    this.evictOldest();
  }

  private resize(log: HotLog, bytes: number): void {
    log.bytes += bytes;
    this.totalBytes += bytes;
  }

  private evictOldest(): void {
    for (const [key, log] of this.hotLogs) {
      if (this.totalBytes <= this.maxBytes) return;
      this.hotLogs.delete(key);
      this.totalBytes -= log.bytes;
    }
  }

  private deliver(channel: string, message: BusMessage): void {
    for (const listener of this.listeners.get(channel) ?? []) listener(message);
  }
}

/** Approximate memory of an event: its data as JSON plus the envelope. */
function sizeOf(event: ConversationEvent): number {
  return JSON.stringify(event.data).length + 256;
}
