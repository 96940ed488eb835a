import { ParleyClient, type ConversationEvent } from '@parley/client';
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

/** The client SDK against a real server, through a proxy whose network can be cut. */
describe('client SDK end to end', () => {
  let server: TestServer;
  let proxy: TcpProxy;
  const clients: ParleyClient[] = [];
  const client = (user: string, url = server.wsUrl) => {
    const created = new ParleyClient({ url, token: () => token(user), WebSocket: WebSocket as never, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    server = await startServer({ PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000' });
    proxy = await TcpProxy.start(server.port);
  });
  afterAll(async () => {
    for (const created of clients) created.close();
    await proxy.close();
    await server.stop();
  });

  it('two users exchange messages in real time', async () => {
    const alice = client('alice');
    const bob = client('bob');
    await Promise.all([alice.connect(), bob.connect()]);
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

  it('resumes after the server crashes and restarts (no server-side session state)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parley-crash-'));
    let crashing = await startServer({ PARLEY_DATA_DIR: dataDir });
    const port = String(crashing.port);
    try {
      const bob = client('bob', crashing.wsUrl);
      const alice = client('alice', crashing.wsUrl);
      await Promise.all([bob.connect(), alice.connect()]);
      const { conversation } = await bob.open({ members: ['alice'] });
      const received: ConversationEvent[] = [];
      alice.subscribe(conversation.id, { since: 0 }).on('event', (event) => received.push(event));
      await bob.send(conversation.id, 'before the crash');
      await eventually(() => expect(texts(received)).toEqual(['before the crash']));

      await crashing.kill(); // SIGKILL: no shutdown, no goodbye frames
      const whileDown = Array.from({ length: 20 }, (_, index) => bob.send(conversation.id, `after ${index}`));
      crashing = await startServer({ PARLEY_DATA_DIR: dataDir, PORT: port });
      await Promise.all(whileDown);
      await eventually(() => expect(texts(received)).toHaveLength(21));
      expect(texts(received)).toEqual(['before the crash', ...Array.from({ length: 20 }, (_, index) => `after ${index}`)]);
      expect(received.map((event) => event.seq)).toEqual(Array.from({ length: 22 }, (_, index) => index + 1));
    } finally {
      await crashing.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
