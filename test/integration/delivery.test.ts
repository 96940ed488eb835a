import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const text = (value: string) => ({ type: 'text', text: value });

/** Checks exactly-once, in-order delivery: seqs strictly increasing by one from `first`. */
function expectContiguous(events: Array<{ seq: number }>, first: number, last: number): void {
  const seqs = events.map((event) => event.seq);
  expect(seqs).toEqual(Array.from({ length: last - first + 1 }, (_, index) => first + index));
}

const stores = [
  { name: 'PGlite', env: async () => ({ env: {}, cleanup: async () => undefined }) },
  {
    name: 'PostgreSQL',
    env: async () => {
      const schema = await createTestSchema();
      return { env: { DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema }, cleanup: schema.drop };
    },
  },
];

describe.each(stores)('delivery contract over $name', (store) => {
  let server: TestServer;
  let cleanup: () => Promise<void>;
  let counter = 0;
  const conversationId = () => `conv-${++counter}`;

  beforeAll(async () => {
    const prepared = await store.env();
    cleanup = prepared.cleanup;
    server = await startServer({ ...prepared.env, PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000' });
  });
  afterAll(async () => {
    await server.stop();
    await cleanup();
  });

  it('two users chat in real time, with presence, typing and read receipts', async () => {
    const alice = await RawClient.connect(server.wsUrl, await token('alice'));
    const bob = await RawClient.connect(server.wsUrl, await token('bob'));
    const id = conversationId();
    const opened = await alice.call('conversation.open', { conversationId: id, members: ['bob'], metadata: { topic: 'lunch' } });
    expect(opened).toMatchObject({ created: true, conversation: { id, members: ['alice', 'bob'], lastSeq: 1 } });
    await alice.call('subscribe', { conversationId: id, since: 0 });
    await bob.call('subscribe', { conversationId: id });
    await alice.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'presence.joined' && frame.signal.actor.id === 'bob');

    const ack = await alice.call('message.send', { conversationId: id, clientMsgId: 'a-1', content: text('hi bob') });
    expect(ack).toMatchObject({ seq: 2, duplicate: false });
    const received = await bob.waitFor((frame) => frame.push === 'event' && frame.event.seq === 2);
    expect(received.event).toMatchObject({ type: 'message.created', actor: { kind: 'user', id: 'alice' }, data: { content: text('hi bob') }, causation: { clientMsgId: 'a-1' } });

    await bob.call('typing', { conversationId: id, active: true });
    await alice.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'typing' && frame.signal.actor.id === 'bob');
    const reply = await bob.call('message.send', { conversationId: id, clientMsgId: 'b-1', content: { type: 'card', data: { title: 'pizza?' } }, replyTo: 2 });
    await alice.waitFor((frame) => frame.push === 'event' && frame.event.seq === reply.seq);
    expect(await bob.call('read', { conversationId: id, seq: 3 })).toEqual({ seq: 3, changed: true });
    const receipt = await alice.waitFor((frame) => frame.push === 'event' && frame.event.type === 'receipt.read');
    expect(receipt.event.data).toEqual({ userId: 'bob', seq: 3 });

    const presence = await alice.call('presence', { conversationId: id });
    expect(presence.online.map((entry: { userId: string }) => entry.userId).sort()).toEqual(['alice', 'bob']);
    expectContiguous(alice.events(id), 1, 4);
    bob.close();
    await alice.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'presence.left' && frame.signal.actor.id === 'bob');
    alice.close();
  });

  it('acknowledges a re-sent clientMsgId with the original ack and stores nothing new', async () => {
    const alice = await RawClient.connect(server.wsUrl, await token('alice'));
    const id = conversationId();
    await alice.call('conversation.open', { conversationId: id });
    const first = await alice.call('message.send', { conversationId: id, clientMsgId: 'dup-1', content: text('once') });
    const again = await alice.call('message.send', { conversationId: id, clientMsgId: 'dup-1', content: text('once') });
    expect(again).toEqual({ ...first, duplicate: true });
    const page = await alice.call('history', { conversationId: id, limit: 50 });
    expect(page.events.filter((event: { type: string }) => event.type === 'message.created')).toHaveLength(1);
    alice.close();
  });

  it('pages history by seq', async () => {
    const alice = await RawClient.connect(server.wsUrl, await token('alice'));
    const id = conversationId();
    await alice.call('conversation.open', { conversationId: id });
    for (let index = 0; index < 10; index++) await alice.call('message.send', { conversationId: id, clientMsgId: `h-${index}`, content: text(`m${index}`) });
    const newest = await alice.call('history', { conversationId: id, limit: 4 });
    expect(newest.hasMore).toBe(true);
    expectContiguous(newest.events, 8, 11);
    const older = await alice.call('history', { conversationId: id, before: 8, limit: 4 });
    expectContiguous(older.events, 4, 7);
    const after = await alice.call('history', { conversationId: id, after: 9, limit: 4 });
    expect(after.hasMore).toBe(false);
    expectContiguous(after.events, 10, 11);
    alice.close();
  });

  it('a client offline while 100 messages are sent resumes with 0 lost and 0 duplicated', async () => {
    const id = conversationId();
    const bob = await RawClient.connect(server.wsUrl, await token('bob'));
    await bob.call('conversation.open', { conversationId: id, members: ['alice'] });
    let alice = await RawClient.connect(server.wsUrl, await token('alice'));
    await alice.call('subscribe', { conversationId: id, since: 0 });
    await bob.call('message.send', { conversationId: id, clientMsgId: 'before', content: text('before') });
    await alice.waitFor((frame) => frame.push === 'event' && frame.event.seq === 2);
    const seen = alice.events(id);
    alice.socket.terminate(); // the network drops: no close handshake

    for (let index = 0; index < 100; index++) await bob.call('message.send', { conversationId: id, clientMsgId: `m-${index}`, content: text(`message ${index}`) });

    alice = await RawClient.connect(server.wsUrl, await token('alice'));
    const lastSeq = seen.at(-1)!.seq;
    await alice.call('subscribe', { conversationId: id, since: lastSeq });
    await alice.waitFor((frame) => frame.push === 'event' && frame.event.seq === 102);
    await bob.call('message.send', { conversationId: id, clientMsgId: 'after', content: text('after') });
    await alice.waitFor((frame) => frame.push === 'event' && frame.event.seq === 103);
    const all = [...seen, ...alice.events(id)];
    expectContiguous(all, 1, 103);
    expect(all.slice(2, 102).map((event) => event.data.content.text)).toEqual(Array.from({ length: 100 }, (_, index) => `message ${index}`));
    alice.close();
    bob.close();
  });

  it('resumes without gap or duplicate at the seam while messages keep flowing', async () => {
    const id = conversationId();
    const bob = await RawClient.connect(server.wsUrl, await token('bob'));
    await bob.call('conversation.open', { conversationId: id, members: ['alice'] });
    let alice = await RawClient.connect(server.wsUrl, await token('alice'));
    await alice.call('subscribe', { conversationId: id, since: 0 });
    const total = 300;
    const sending = (async () => {
      for (let index = 0; index < total; index++) await bob.call('message.send', { conversationId: id, clientMsgId: `s-${index}`, content: text(`${index}`) });
    })();
    const collected: Array<{ seq: number }> = [];
    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 40));
      collected.push(...alice.events(id));
      alice.socket.terminate();
      alice = await RawClient.connect(server.wsUrl, await token('alice'));
      await alice.call('subscribe', { conversationId: id, since: collected.length ? collected[collected.length - 1]!.seq : 0 });
    }
    await sending;
    await alice.waitFor((frame) => frame.push === 'event' && frame.event.seq === total + 1);
    collected.push(...alice.events(id));
    expectContiguous(collected, 1, total + 1);
    alice.close();
    bob.close();
  });
});
