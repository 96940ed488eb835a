import type { ConversationEvent, Signal } from '@parley/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.js';
import { Redis } from 'ioredis';
import { MemoryBus } from '../src/adapters/memory/bus.js';
import { MemoryApprovalRegistry } from '../src/adapters/memory/approval-registry.js';
import { MemoryPresence } from '../src/adapters/memory/presence.js';
import { RedisApprovalRegistry } from '../src/adapters/redis/approval-registry.js';
import { RedisBus } from '../src/adapters/redis/bus.js';
import { RedisPresence } from '../src/adapters/redis/presence.js';
import { redisTestPrefix } from '../../../test/support/redis.js';
import type { ApprovalRegistry, Bus, BusMessage, ControlMessage, Presence } from '../src/core/ports.js';

interface BusFactory {
  name: string;
  /** A bus with a hot log of `hotLogSize` events, isolated from other runs. */
  open(hotLogSize: number): Promise<Bus>;
}

const REDIS_URL = process.env.PARLEY_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A Redis bus under a key prefix of its own; closing it deletes every key it wrote. */
async function openRedisBus(hotLogSize: number): Promise<Bus> {
  const prefix = `parley-test-${process.pid}-${Date.now()}`;
  const bus = new RedisBus({ url: REDIS_URL, prefix, hotLogSize, hotLogTtlMs: 60_000 });
  const close = bus.close.bind(bus);
  bus.close = async () => {
    const admin = new Redis(REDIS_URL);
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
    await close();
  };
  return bus;
}

/** The implementations under test: the same suite runs unchanged against each. */
const factories: BusFactory[] = [
  { name: 'memory', open: async (hotLogSize) => new MemoryBus(hotLogSize) },
  { name: 'redis', open: openRedisBus },
];

let conversationCounter = 0;
const newKey = () => ({ tenant: 'acme', conversationId: `bus-${process.pid}-${Date.now()}-${++conversationCounter}` });
const event = (key: { tenant: string; conversationId: string }, seq: number): ConversationEvent => ({
  id: `${key.conversationId}-${seq}`,
  tenant: key.tenant,
  conversation: key.conversationId,
  seq,
  type: 'message.created',
  ts: 1_700_000_000_000 + seq,
  actor: { kind: 'user', id: 'alice' },
  data: { n: seq },
});


describe.each(factories)('Bus conformance: $name', (factory) => {
  let bus: Bus;
  beforeAll(async () => {
    bus = await factory.open(5);
  });
  afterAll(() => bus.close());

  it('delivers events and signals to subscribers of that conversation only', async () => {
    const key = newKey();
    const other = newKey();
    const received: BusMessage[] = [];
    const receivedOther: BusMessage[] = [];
    const unsubscribe = await bus.subscribe(key, (message) => received.push(message));
    const unsubscribeOther = await bus.subscribe(other, (message) => receivedOther.push(message));
    await bus.publishEvent(event(key, 1));
    const signal: Signal = { tenant: key.tenant, conversation: key.conversationId, type: 'typing', ts: 1, actor: { kind: 'user', id: 'bob' }, data: { active: true } };
    await bus.publishSignal(signal);
    await eventually(() => expect(received).toHaveLength(2));
    expect(received[0]).toEqual({ kind: 'event', event: event(key, 1) });
    expect(received[1]).toEqual({ kind: 'signal', signal });
    expect(receivedOther).toEqual([]);
    await unsubscribe();
    await unsubscribeOther();
    await bus.publishEvent(event(key, 2));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toHaveLength(2);
  });

  it('keeps a capped, seq-ordered hot log that accepts late publishes', async () => {
    const key = newKey();
    for (const seq of [1, 2, 4, 3, 3]) await bus.publishEvent(event(key, seq));
    const range = await bus.readHotLog(key, 0, 10);
    expect(range.complete).toBe(true);
    expect(range.events.map((item) => item.seq)).toEqual([1, 2, 3, 4]);
    expect((await bus.readHotLog(key, 2, 1)).events.map((item) => item.seq)).toEqual([3]);
    for (const seq of [5, 6, 7]) await bus.publishEvent(event(key, seq));
    // Capped at 5: seq 1 and 2 are gone, so a range from 0 can no longer be vouched for.
    const trimmed = await bus.readHotLog(key, 0, 10);
    expect(trimmed.complete).toBe(false);
    const recent = await bus.readHotLog(key, 2, 10);
    expect(recent).toEqual({ complete: true, events: [3, 4, 5, 6, 7].map((seq) => event(key, seq)) });
  });

  it('says an unknown conversation has no complete hot log', async () => {
    expect(await bus.readHotLog(newKey(), 0, 10)).toEqual({ complete: false, events: [] });
  });

  it('delivers control messages to every listener, also after the last conversation was unsubscribed', async () => {
    const received: ControlMessage[] = [];
    bus.onControl((message) => received.push(message));
    const message: ControlMessage = { type: 'user.notify', tenant: 'acme', userId: `u-${conversationCounter}`, notification: { id: 'n1', ts: 1, data: {} } };
    const unsubscribe = await bus.subscribe(newKey(), () => undefined);
    await unsubscribe();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the listener subscribes as it is registered
    await bus.publishControl(message);
    await eventually(() => expect(received).toContainEqual(message));
  });

  it('hears control messages and topics registered one after the other on a fresh bus', async () => {
    const fresh = await factory.open(5);
    try {
      const control: ControlMessage[] = [];
      const topic: unknown[] = [];
      fresh.onControl((message) => control.push(message));
      await new Promise((resolve) => setTimeout(resolve, 20)); // the second registration lands while the first connects
      await fresh.onTopic('test.fresh', (message) => topic.push(message));
      const message: ControlMessage = { type: 'apikey.revoked', tenant: 'acme', keyId: `k${conversationCounter}` };
      await eventually(async () => {
        await fresh.publishControl(message);
        await fresh.publishTopic('test.fresh', 1);
        expect(control).toContainEqual(message);
        expect(topic).toContain(1);
      }, 5000);
    } finally {
      await fresh.close();
    }
  });

  it('delivers a topic message to every listener of that topic, the publisher included, and to no other topic', async () => {
    const received: unknown[] = [];
    const receivedAgain: unknown[] = [];
    const receivedOther: unknown[] = [];
    await bus.onTopic('test.wake', (message) => received.push(message));
    await bus.onTopic('test.wake', (message) => receivedAgain.push(message));
    await bus.onTopic('test.other', (message) => receivedOther.push(message));
    const message = { conversations: [['acme', 'c1']], reactions: ['assistant'] };
    await bus.publishTopic('test.wake', message);
    await eventually(() => expect(received).toEqual([message]));
    expect(receivedAgain).toEqual([message]);
    await bus.publishTopic('test.other', 7);
    await eventually(() => expect(receivedOther).toEqual([7]));
    expect(received).toHaveLength(1);
  });
});

describe('Redis bus topics across nodes', () => {
  it("reaches the listeners of another node sharing the prefix, and not another deployment's", async () => {
    const prefix = `parley-test-topics-${process.pid}-${Date.now()}`;
    const nodes = [0, 1].map(() => new RedisBus({ url: REDIS_URL, prefix, hotLogSize: 5, hotLogTtlMs: 60_000 }));
    const elsewhere = new RedisBus({ url: REDIS_URL, prefix: `${prefix}-other`, hotLogSize: 5, hotLogTtlMs: 60_000 });
    try {
      const received: unknown[] = [];
      const receivedElsewhere: unknown[] = [];
      await nodes[1]!.onTopic('reactions.wake', (message) => received.push(message));
      await elsewhere.onTopic('reactions.wake', (message) => receivedElsewhere.push(message));
      await nodes[0]!.publishTopic('reactions.wake', { n: 1 });
      await eventually(() => expect(received).toEqual([{ n: 1 }]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(receivedElsewhere).toEqual([]);
    } finally {
      for (const node of [...nodes, elsewhere]) await node.close();
    }
  });
});

describe('MemoryBus memory bound', () => {
  it('drops the hot logs of the least recently active conversations past its byte budget', async () => {
    const bus = new MemoryBus(100, 20_000);
    const keys = Array.from({ length: 5 }, () => newKey());
    const big = (key: { tenant: string; conversationId: string }, seq: number) => ({ ...event(key, seq), data: { text: 'x'.repeat(2000) } });
    for (const key of keys) for (let seq = 1; seq <= 3; seq++) await bus.publishEvent(big(key, seq));
    expect(bus.hotLogBytes).toBeLessThanOrEqual(20_000);
    // The oldest conversation's log is gone: a read falls back to the store.
    expect((await bus.readHotLog(keys[0]!, 0, 10)).complete).toBe(false);
    expect((await bus.readHotLog(keys[4]!, 0, 10)).events.map((item) => item.seq)).toEqual([1, 2, 3]);
    await bus.close();
  });
});

interface PresenceFactory {
  name: string;
  open(ttlMs: number): Promise<{ presence: Presence; close(): Promise<void> }>;
}

const presenceFactories: PresenceFactory[] = [
  { name: 'memory', open: async () => ({ presence: new MemoryPresence(), close: async () => undefined }) },
  {
    name: 'redis',
    open: async (ttlMs) => {
      const { prefix, redis, cleanup } = redisTestPrefix('presence');
      return { presence: new RedisPresence(redis, prefix, ttlMs), close: cleanup };
    },
  },
];

describe.each(presenceFactories)('Presence conformance: $name', (factory) => {
  it('reports a user joined on the first connection and left with the last', async () => {
    const { presence, close } = await factory.open(60_000);
    try {
      const key = newKey();
      expect(await presence.join(key, 'alice', 'c1')).toBe(true);
      expect(await presence.join(key, 'alice', 'c2')).toBe(false);
      expect(await presence.join(key, 'bob', 'c3')).toBe(true);
      const online = await presence.list(key);
      expect(online.sort((a, b) => a.userId.localeCompare(b.userId))).toEqual([
        { userId: 'alice', connections: 2 },
        { userId: 'bob', connections: 1 },
      ]);
      expect(await presence.leave(key, 'alice', 'c1')).toBe(false);
      expect(await presence.leave(key, 'alice', 'c2')).toBe(true);
      expect(await presence.leave(key, 'alice', 'c2')).toBe(false); // already gone
      await presence.refresh(key, 'bob', 'c3');
      expect(await presence.list(key)).toEqual([{ userId: 'bob', connections: 1 }]);
    } finally {
      await close();
    }
  });
});

describe('Redis presence expiry', () => {
  it("drops the entries of connections that stopped refreshing (a dead node's)", async () => {
    const { presence, close } = await presenceFactories[1]!.open(300);
    try {
      const key = newKey();
      await presence.join(key, 'ghost', 'dead-node-connection');
      await presence.join(key, 'alice', 'live');
      for (let round = 0; round < 5; round++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await presence.refresh(key, 'alice', 'live');
      }
      expect(await presence.list(key)).toEqual([{ userId: 'alice', connections: 1 }]);
      // The ghost's later return counts as a join again.
      expect(await presence.join(key, 'ghost', 'new-connection')).toBe(true);
    } finally {
      await close();
    }
  });
});

const registryFactories: Array<{ name: string; open(): Promise<{ registry: ApprovalRegistry; close(): Promise<void> }> }> = [
  { name: 'memory', open: async () => ({ registry: new MemoryApprovalRegistry(), close: async () => undefined }) },
  {
    name: 'redis',
    open: async () => {
      const { prefix, redis, cleanup } = redisTestPrefix('approvals');
      return { registry: new RedisApprovalRegistry(redis, prefix), close: cleanup };
    },
  },
];

describe.each(registryFactories)('ApprovalRegistry conformance: $name', (factory) => {
  it('lets the first decision win, tells later ones, and knows nothing of other conversations', async () => {
    const { registry, close } = await factory.open();
    try {
      const key = newKey();
      expect(await registry.decide(key, 'g:1', true)).toBe('unknown');
      await registry.open(key, 'g:1', 60_000);
      expect(await registry.decide(newKey(), 'g:1', true)).toBe('unknown');
      expect(await registry.decide(key, 'g:1', false)).toBe('first');
      expect(await registry.decide(key, 'g:1', true)).toBe('denied');
      await registry.reopen(key, 'g:1'); // the first decision could not be recorded
      expect(await registry.decide(key, 'g:1', true)).toBe('first');
      expect(await registry.decide(key, 'g:1', false)).toBe('approved');
    } finally {
      await close();
    }
  });
});
