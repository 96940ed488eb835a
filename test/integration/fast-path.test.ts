import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const text = (value: string) => ({ type: 'text', text: value });

/**
 * The delivery fast path keeps the protocol's guarantees: pipelined sends of one connection commit in the
 * order they were sent (they are committed in groups), and frames written together reach every client as
 * separate, intact messages.
 */
describe('fast path', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ PARLEY_RATE_PER_SECOND: '100000', PARLEY_RATE_BURST: '100000', PARLEY_USER_SEND_RATE_PER_SECOND: '100000', PARLEY_USER_SEND_BURST: '100000', PARLEY_MAX_PENDING_REQUESTS: '256' });
  });
  afterAll(() => server.stop());

  it('commits pipelined sends in the order they were sent, one reply each, and delivers them in that order to every subscriber', async () => {
    const sender = await RawClient.connect(server.wsUrl, await token('pia'));
    const readers = await Promise.all(['quinn', 'rosa', 'sven'].map(async (user) => RawClient.connect(server.wsUrl, await token(user))));
    await sender.call('conversation.open', { conversationId: 'pipelined', members: ['quinn', 'rosa', 'sven'] });
    for (const reader of readers) await reader.call('subscribe', { conversationId: 'pipelined', since: 1 });
    const count = 200;
    // All sent at once, without waiting for any reply.
    const replies = await Promise.all(Array.from({ length: count }, (_, index) => sender.request('message.send', { conversationId: 'pipelined', clientMsgId: `p-${index}`, content: text(`#${index}`) })));
    expect(replies.every((reply) => reply.result && !reply.result.duplicate)).toBe(true);
    expect(replies.map((reply) => reply.result.seq)).toEqual(Array.from({ length: count }, (_, index) => index + 2));
    for (const reader of readers) {
      await eventually(() => expect(reader.frames.filter((frame) => frame.push === 'event')).toHaveLength(count));
      const events = reader.frames.filter((frame) => frame.push === 'event').map((frame) => frame.event);
      expect(events.map((event) => event.seq)).toEqual(Array.from({ length: count }, (_, index) => index + 2));
      expect(events.map((event) => event.data.content.text)).toEqual(Array.from({ length: count }, (_, index) => `#${index}`));
    }
    // Re-sent as one batch: every one is a duplicate with its original seq, and nothing new is stored.
    const again = await Promise.all(Array.from({ length: 20 }, (_, index) => sender.request('message.send', { conversationId: 'pipelined', clientMsgId: `p-${index}`, content: text(`#${index}`) })));
    expect(again.map((reply) => [reply.result.duplicate, reply.result.seq])).toEqual(Array.from({ length: 20 }, (_, index) => [true, index + 2]));
    for (const client of [sender, ...readers]) client.close();
  });

  it('keeps replies and pushes apart when they leave in one write', async () => {
    const client = await RawClient.connect(server.wsUrl, await token('tova'));
    await client.call('conversation.open', { conversationId: 'own-echo' });
    await client.call('subscribe', { conversationId: 'own-echo', since: 1 });
    const replies = await Promise.all(Array.from({ length: 50 }, (_, index) => client.request('message.send', { conversationId: 'own-echo', clientMsgId: `e-${index}`, content: text(`echo ${index}`) })));
    expect(replies.every((reply) => reply.result)).toBe(true);
    await eventually(() => expect(client.frames.filter((frame) => frame.push === 'event')).toHaveLength(50));
    // Every frame arrived whole (RawClient parses each WebSocket message as one JSON frame).
    expect(client.frames.filter((frame) => frame.id === undefined && frame.push === undefined)).toHaveLength(0);
    client.close();
  });
});
