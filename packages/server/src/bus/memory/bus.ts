import type { ConversationEvent, Signal } from '@parley/protocol';
import type { Bus, BusListener, BusMessage, HotLogRange } from '../../core/ports.js';
import { conversationKeyString, type ConversationKey } from '../../core/types.js';

/** The Bus of a single process: listeners called synchronously, a capped hot log per conversation. */
export class MemoryBus implements Bus {
  private readonly listeners = new Map<string, Set<BusListener>>();
  private readonly hotLogs = new Map<string, ConversationEvent[]>();

  /** @param hotLogSize events kept per conversation; older ones are read from the store. */
  constructor(private readonly hotLogSize: number) {}

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
    const log = this.hotLogs.get(conversationKeyString(key)) ?? [];
    const events = log.filter((event) => event.seq > after).slice(0, limit);
    const first = log[0];
    // Complete only if the log still reaches back to `after + 1` (nothing trimmed in between).
    return { events, complete: first !== undefined && first.seq <= after + 1 };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.hotLogs.clear();
  }

  private addToHotLog(key: string, event: ConversationEvent): void {
    const log = this.hotLogs.get(key) ?? [];
    // Publishers may race: keep the log sorted by seq and free of duplicates.
    let index = log.length;
    while (index > 0 && log[index - 1]!.seq > event.seq) index--;
    if (log[index - 1]?.seq === event.seq) return;
    log.splice(index, 0, event);
    if (log.length > this.hotLogSize) log.splice(0, log.length - this.hotLogSize);
    this.hotLogs.set(key, log);
  }

  private deliver(channel: string, message: BusMessage): void {
    for (const listener of this.listeners.get(channel) ?? []) listener(message);
  }
}
