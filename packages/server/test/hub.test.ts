import type { ConversationEvent, Signal } from '@parley/protocol';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/adapters/memory/bus.js';
import type { BusListener } from '../src/core/ports.js';
import type { ConversationKey } from '../src/core/types.js';
import { Hub, type HubSubscriber } from '../src/gateway/hub.js';

const key: ConversationKey = { tenant: 'acme', conversationId: 'c1' };
const event = (seq: number): ConversationEvent => ({ id: `e${seq}`, tenant: 'acme', conversation: 'c1', seq, type: 'message.created', ts: seq, actor: { kind: 'user', id: 'alice' }, data: {} });

/**
 * The in-memory bus with its subscribe held at a gate, as Redis's is while it is down: `open()` lets the
 * waiting subscribes through, `refuse(error)` fails them. Counts subscribes and unsubscribes.
 */
class GatedBus extends MemoryBus {
  subscribes = 0;
  unsubscribes = 0;
  private waiting: Array<{ pass: () => void; fail: (error: Error) => void }> = [];

  constructor() {
    super(100);
  }

  override async subscribe(subscribed: ConversationKey, listener: BusListener): Promise<() => Promise<void>> {
    this.subscribes++;
    await new Promise<void>((pass, fail) => this.waiting.push({ pass, fail }));
    const unsubscribe = await super.subscribe(subscribed, listener);
    return async () => {
      this.unsubscribes++;
      await unsubscribe();
    };
  }

  open(): void {
    for (const gate of this.waiting.splice(0)) gate.pass();
  }

  refuse(error: Error): void {
    for (const gate of this.waiting.splice(0)) gate.fail(error);
  }

  get held(): number {
    return this.waiting.length;
  }
}

class Recorder implements HubSubscriber {
  readonly events: number[] = [];
  gaps = 0;
  onEvent(received: ConversationEvent): void {
    this.events.push(received.seq);
  }
  onSignal(_signal: Signal): void {}
  onGap(): void {
    this.gaps++;
  }
}

/** Resolves once `check` holds, checking after each turn of the event loop. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

describe('Hub', () => {
  it('lets a subscriber in while the bus cannot subscribe, and tells it to read the log once the bus is live', async () => {
    const bus = new GatedBus();
    const hub = new Hub(bus, {}, { busWaitMs: 0 });
    const first = new Recorder();
    const second = new Recorder();
    await hub.attach(key, first);
    await hub.attach(key, second);
    expect(bus.subscribes).toBe(1);
    expect(hub.pending).toBe(1);
    expect([first.gaps, second.gaps]).toEqual([0, 0]);

    bus.open();
    await until(() => hub.pending === 0);
    expect([first.gaps, second.gaps]).toEqual([1, 1]);
    await bus.publishEvent(event(1));
    expect(first.events).toEqual([1]);
    expect(second.events).toEqual([1]);
  });

  it('asks no second read of a subscriber that waited until the bus was live', async () => {
    const bus = new MemoryBus(100);
    const hub = new Hub(bus, {}, { busWaitMs: 60_000 });
    const subscriber = new Recorder();
    await hub.attach(key, subscriber);
    expect(hub.pending).toBe(0);
    await bus.publishEvent(event(1));
    expect(subscriber).toMatchObject({ events: [1], gaps: 0 });
  });

  it('keeps trying a bus that refuses, telling the observer, and serves subscribers meanwhile', async () => {
    const bus = new GatedBus();
    const failures: unknown[] = [];
    const hub = new Hub(bus, { busSubscribeFailed: (error) => failures.push(error) }, { busWaitMs: 0, retryMs: { first: 1, max: 1 } });
    const subscriber = new Recorder();
    await hub.attach(key, subscriber);
    bus.refuse(new Error('NOPERM'));
    await until(() => bus.held === 1);
    expect(failures).toEqual([new Error('NOPERM')]);
    expect(bus.subscribes).toBe(2);
    bus.open();
    await until(() => hub.pending === 0);
    expect(subscriber.gaps).toBe(1);
  });

  it('undoes a bus subscription that completes after everyone left, and stops trying', async () => {
    const bus = new GatedBus();
    const hub = new Hub(bus, {}, { busWaitMs: 0 });
    const subscriber = new Recorder();
    await hub.attach(key, subscriber);
    await hub.detach(key, subscriber);
    expect(hub.size).toBe(0);
    bus.open();
    await until(() => bus.unsubscribes === 1);
    await bus.publishEvent(event(1));
    expect(subscriber).toMatchObject({ events: [], gaps: 0 });
    expect(bus.subscribes).toBe(1);
  });

  it('gives a subscriber back its conversation when it returns while the old bus subscription is still under way', async () => {
    const bus = new GatedBus();
    const hub = new Hub(bus, {}, { busWaitMs: 0 });
    const before = new Recorder();
    await hub.attach(key, before);
    await hub.detach(key, before);
    const after = new Recorder();
    await hub.attach(key, after);
    bus.open();
    await until(() => hub.pending === 0 && bus.unsubscribes === 1);
    await bus.publishEvent(event(1));
    expect(after).toMatchObject({ events: [1], gaps: 1 });
    expect(before.events).toEqual([]);
  });
});
