import { ParleyClient, type ConversationEvent, type TransportName } from '@parley/client';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { startServer, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { token } from '../support/tokens.js';


const texts = (events: ConversationEvent[]) =>
  events.filter((event) => event.type === 'message.created').map((event) => (event.data.content as { text: string }).text);

/**
 * The client SDK against a real server, through a proxy whose network can be cut, over each transport. Alice
 * (the client under test) uses the transport of the suite; Bob stays on a WebSocket. The full fault matrix runs
 * on WebSockets; each HTTP transport gets the chat, a cut network and a kill -9 of the node.
 */
const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'long-poll'];

// One server and proxy for every transport's suite.
let server: TestServer;
let proxy: TcpProxy;
beforeAll(async () => {
  server = await startServer({ PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000' });
  proxy = await TcpProxy.start(server.port);
});
afterAll(async () => {
  await proxy.close();
  await server.stop();
});

describe.each(TRANSPORTS)('client SDK end to end over %s', (transport: TransportName) => {
  const clients: ParleyClient[] = [];
  const client = (user: string, url = server.wsUrl, transports: TransportName[] = user === 'alice' ? [transport] : ['websocket']) => {
    const created = new ParleyClient({ url, token: () => token(user), WebSocket: WebSocket as never, reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, transports });
    created.on('error', () => undefined); // reconnect causes: expected here
    clients.push(created);
    return created;
  };

  afterAll(() => {
    for (const created of clients) created.close();
  });

  it('two users exchange messages in real time', async () => {
    const alice = client('alice');
    const bob = client('bob');
    await Promise.all([alice.connect(), bob.connect()]);
    expect(alice.transport).toBe(transport);
    const { conversation } = await alice.open({ members: ['bob'] });
    const seenByBob: ConversationEvent[] = [];
    const seenByAlice: ConversationEvent[] = [];
    bob.subscribe(conversation.id, { since: 0 }).on('event', (event) => seenByBob.push(event));
    const aliceSubscription = alice.subscribe(conversation.id, { since: 0 });
    aliceSubscription.on('event', (event) => seenByAlice.push(event));
    await aliceSubscription.ready;
    await alice.send(conversation.id, 'hi bob');
    await eventually(() => expect(texts(seenByBob)).toEqual(['hi bob']));
    await bob.send(conversation.id, 'hi alice');
    await eventually(() => expect(texts(seenByAlice)).toEqual(['hi bob', 'hi alice']));
    expect(seenByBob.map((event) => event.seq)).toEqual([1, 2, 3]);
  });

  it('a client whose network is cut while 100 messages are sent gets every one, once, in order', async () => {
    const bob = client('bob');
    await bob.connect();
    const { conversation } = await bob.open({ members: ['alice'] });
    const alice = client('alice', `ws://127.0.0.1:${proxy.port}/v1/ws`);
    const received: ConversationEvent[] = [];
    const states: string[] = [];
    alice.on('state', (state) => states.push(state));
    await alice.connect();
    expect(alice.transport).toBe(transport);
    const subscription = alice.subscribe(conversation.id, { since: 0 });
    subscription.on('event', (event) => received.push(event));
    await subscription.ready;
    await bob.send(conversation.id, 'before');
    await eventually(() => expect(texts(received)).toEqual(['before']));

    proxy.cut();
    const sent = Array.from({ length: 100 }, (_, index) => `offline ${index}`);
    for (const text of sent) await bob.send(conversation.id, text);
    // Alice also writes while offline: the outbox keeps it and delivers it after the reconnect.
    const aliceAck = alice.send(conversation.id, 'written offline');
    await eventually(() => expect(alice.state).toBe('reconnecting'));
    proxy.restore();

    await eventually(() => expect(texts(received)).toContain('written offline'));
    const expected = ['before', ...sent, 'written offline'];
    expect(texts(received)).toEqual(expected);
    const seqs = received.map((event) => event.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
    expect((await aliceAck).duplicate).toBe(false);
    expect(states).toContain('reconnecting');
    const lost = expected.filter((text) => !texts(received).includes(text)).length;
    const duplicated = texts(received).length - new Set(texts(received)).size;
    expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
  });

  it('resends an unacknowledged message after a cut without creating a duplicate', async () => {
    const alice = client('alice', `ws://127.0.0.1:${proxy.port}/v1/ws`);
    await alice.connect();
    const { conversation } = await alice.open({});
    // Cut right after the frame leaves: the ack may or may not have been produced; the outbox re-sends.
    const sending = alice.send(conversation.id, 'exactly once', { clientMsgId: 'once-1' });
    setImmediate(() => proxy.cut());
    await new Promise((resolve) => setTimeout(resolve, 100));
    proxy.restore();
    await sending;
    const page = await alice.history(conversation.id, { limit: 50 });
    expect(texts(page.events)).toEqual(['exactly once']);
  });
});

/** A `ws` WebSocket class that a test can block: while `blocked`, sockets fail as behind a firewall (error, close 1006). */
function switchableWebSocket() {
  const control = { blocked: true, attempts: 0 };
  class Switchable extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      control.attempts++;
      // A port nothing listens on stands in for a network that drops the upgrade.
      super(control.blocked ? 'ws://127.0.0.1:1/v1/ws' : url, protocols);
    }
  }
  return { control, WebSocket: Switchable };
}

describe('transport fallback against a real server', () => {
  it('falls back to SSE while WebSockets are blocked, then moves back to a WebSocket with nothing lost or doubled', async () => {
    const { control, WebSocket: Switchable } = switchableWebSocket();
    const alice = new ParleyClient({ url: server.wsUrl, token: () => token('alice'), WebSocket: Switchable as never, reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, probeIntervalMs: 200 });
    const bob = new ParleyClient({ url: server.wsUrl, token: () => token('bob'), WebSocket: WebSocket as never, transports: ['websocket'] });
    const transports: string[] = [];
    alice.on('transport', (transport) => transports.push(transport));
    alice.on('error', () => undefined);
    try {
      await Promise.all([alice.connect(), bob.connect()]);
      expect(alice.transport).toBe('sse');
      const { conversation } = await bob.open({ members: ['alice'] });
      const received: ConversationEvent[] = [];
      const subscription = alice.subscribe(conversation.id, { since: 0 });
      subscription.on('event', (event) => received.push(event));
      await subscription.ready;
      await alice.send(conversation.id, 'alice over sse');
      await bob.send(conversation.id, 'bob 1');

      control.blocked = false;
      const sending = [alice.send(conversation.id, 'alice around the switch'), bob.send(conversation.id, 'bob 2')];
      await eventually(() => expect(alice.transport).toBe('websocket'));
      await Promise.all(sending);
      await bob.send(conversation.id, 'bob 3');

      const expected = ['alice over sse', 'bob 1', 'alice around the switch', 'bob 2', 'bob 3'];
      await eventually(() => expect(texts(received)).toHaveLength(expected.length));
      expect([...texts(received)].sort()).toEqual([...expected].sort());
      expect(received.map((event) => event.seq)).toEqual(received.map((_, index) => index + 1));
      expect(transports).toEqual(['sse', 'websocket']);
      expect(control.attempts).toBeGreaterThanOrEqual(2);
    } finally {
      alice.close();
      bob.close();
    }
  });
});

/** A kill -9 of the node under clients on every transport at once (one server restart for all three). */
describe('client SDK across a crash of the server', () => {
  const clients: ParleyClient[] = [];
  afterAll(() => {
    for (const created of clients) created.close();
  });

  it('resumes after the server crashes and restarts, over each transport (no server-side session state)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-crash-'));
    let crashing = await startServer({ PARLEY_DATA_DIR: dataDir });
    const port = String(crashing.port);
    const client = (user: string, transports: TransportName[]) => {
      const created = new ParleyClient({ url: crashing.wsUrl, token: () => token(user), WebSocket: WebSocket as never, reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, transports });
      created.on('error', () => undefined); // reconnect causes: expected here
      clients.push(created);
      return created;
    };
    try {
      const bob = client('bob', ['websocket']);
      const readers = TRANSPORTS.map((transport) => ({ transport, client: client(`alice-${transport}`, [transport]), received: [] as ConversationEvent[] }));
      await Promise.all([bob.connect(), ...readers.map((reader) => reader.client.connect())]);
      const { conversation } = await bob.open({ members: readers.map((reader) => `alice-${reader.transport}`) });
      for (const reader of readers) reader.client.subscribe(conversation.id, { since: 0 }).on('event', (event) => reader.received.push(event));
      await bob.send(conversation.id, 'before the crash');
      for (const reader of readers) await eventually(() => expect(texts(reader.received)).toEqual(['before the crash']));

      await crashing.kill(); // SIGKILL: no shutdown, no goodbye frames
      const whileDown = Array.from({ length: 20 }, (_, index) => bob.send(conversation.id, `after ${index}`));
      // Each reader writes while the server is down too: its outbox keeps the message over its transport.
      const ownSends = readers.map((reader) => reader.client.send(conversation.id, `from ${reader.transport}`));
      crashing = await startServer({ PARLEY_DATA_DIR: dataDir, PORT: port });
      await Promise.all([...whileDown, ...ownSends]);
      const expected = ['before the crash', ...Array.from({ length: 20 }, (_, index) => `after ${index}`), ...TRANSPORTS.map((transport) => `from ${transport}`)];
      for (const reader of readers) {
        await eventually(() => expect(texts(reader.received)).toHaveLength(expected.length));
        expect(reader.client.transport).toBe(reader.transport);
        expect([...texts(reader.received)].sort()).toEqual([...expected].sort()); // 0 lost, 0 duplicated
        expect(texts(reader.received).filter((text) => text.startsWith('after '))).toEqual(expected.filter((text) => text.startsWith('after ')));
        expect(reader.received.map((event) => event.seq)).toEqual(Array.from({ length: expected.length + 1 }, (_, index) => index + 1));
      }
    } finally {
      await crashing.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
