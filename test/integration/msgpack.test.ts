import { ParleyClient, type ConversationEvent } from '@parley/client';
import { msgpackCodec } from '@parley/protocol/msgpack';
import { pack } from 'msgpackr';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { token } from '../support/tokens.js';

/**
 * MessagePack framing (subprotocol parley.v1.msgpack) against real servers: negotiation, raw binary
 * clients beside JSON ones, the SDK with `codec: 'msgpack'` (send, live events, resume after a cut), bad
 * MessagePack input, and permessage-deflate.
 *
 * Two servers:
 * - `plain`: default settings (permessage-deflate off), generous rate limits.
 * - `deflating`: PARLEY_WS_DEFLATE=on and PARLEY_MAX_FRAME_BYTES=4096.
 */

type Frame = Record<string, any>;

const MSGPACK = 'parley.v1.msgpack';
const RELAXED = { PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000' };

let plain: TestServer | undefined;
let deflating: TestServer | undefined;
const rawClients: RawClient[] = [];

async function rawClient(server: TestServer, user: string, options: Parameters<typeof RawClient.connect>[2] = {}): Promise<RawClient> {
  const client = await RawClient.connect(server.wsUrl, await token(user), options);
  rawClients.push(client);
  return client;
}

const msgpackClient = (server: TestServer, user: string) => rawClient(server, user, { codec: msgpackCodec });
const text = (value: string) => ({ type: 'text', text: value });
let messageCount = 0;
const send = (client: RawClient, conversationId: string, value: string) =>
  client.call('message.send', { conversationId, clientMsgId: `m-${++messageCount}`, content: text(value) });

beforeAll(async () => {
  const servers = await Promise.allSettled([startServer(RELAXED), startServer({ ...RELAXED, PARLEY_WS_DEFLATE: 'on', PARLEY_MAX_FRAME_BYTES: '4096' })]);
  if (servers[0].status === 'fulfilled') plain = servers[0].value;
  if (servers[1].status === 'fulfilled') deflating = servers[1].value;
  for (const server of servers) if (server.status === 'rejected') throw server.reason;
});

afterAll(async () => {
  for (const client of rawClients) client.close();
  await Promise.all([plain?.stop(), deflating?.stop()]);
});

describe('subprotocol negotiation', () => {
  it('speaks MessagePack to a client that offers parley.v1.msgpack, JSON to one that offers nothing', async () => {
    const binary = await RawClient.open(plain!.wsUrl, { codec: msgpackCodec });
    const none = await RawClient.open(plain!.wsUrl, { protocol: [] });
    const both = await RawClient.open(plain!.wsUrl, { protocol: [MSGPACK, 'parley.v1.json'], codec: msgpackCodec });
    rawClients.push(binary, none, both);
    expect([binary.socket.protocol, none.socket.protocol, both.socket.protocol]).toEqual([MSGPACK, '', MSGPACK]);
    // Replies arrive in each connection's encoding (before `connect`, a ping is refused).
    expect((await binary.request('ping')).error).toMatchObject({ code: 'unauthorized' });
    expect((await none.request('ping')).error).toMatchObject({ code: 'unauthorized' });
    expect(binary.frames.every((frame) => frame.text === undefined)).toBe(true);
    await expect(RawClient.open(plain!.wsUrl, { protocol: 'parley.v2.msgpack' })).rejects.toThrow('HTTP 400');
  });
});

describe('a raw MessagePack client', () => {
  it('chats with a JSON client: binary frames both ways, and both see the same event values', async () => {
    const alice = await msgpackClient(plain!, 'alice');
    const bob = await rawClient(plain!, 'bob');
    const { conversation } = await alice.call('conversation.open', { members: ['bob'] });
    await alice.call('subscribe', { conversationId: conversation.id, since: 0 });
    await bob.call('subscribe', { conversationId: conversation.id, since: 0 });
    const ack = await send(alice, conversation.id, 'hello in MessagePack ✓ 🚀');
    const fromBob = await send(bob, conversation.id, 'hello in JSON');
    for (const seq of [ack.seq, fromBob.seq]) {
      const seenByAlice = await alice.waitFor((frame) => frame.push === 'event' && frame.event.seq === seq);
      const seenByBob = await bob.waitFor((frame) => frame.push === 'event' && frame.event.seq === seq);
      expect(seenByAlice).toEqual(seenByBob);
    }
    expect(alice.events(conversation.id).map((event) => event.data.content?.text).filter(Boolean)).toEqual(['hello in MessagePack ✓ 🚀', 'hello in JSON']);
    expect(alice.frames.some((frame) => frame.text !== undefined)).toBe(false);
  });

  it('resumes a subscription with since: the gap is replayed in order, then live events follow', async () => {
    const alice = await msgpackClient(plain!, 'alice');
    const { conversation } = await alice.call('conversation.open', {});
    for (const value of ['one', 'two', 'three']) await send(alice, conversation.id, value);
    const resumed = await msgpackClient(plain!, 'alice');
    await resumed.call('subscribe', { conversationId: conversation.id, since: 1 });
    await send(alice, conversation.id, 'four');
    await eventually(() => expect(resumed.events(conversation.id).map((event) => event.seq)).toEqual([2, 3, 4, 5]));
  });
});

describe('bad MessagePack input (the connection stays open)', () => {
  /** Sends raw bytes (or text), then a ping as a barrier, and returns the one reply the data got. */
  async function replyToRaw(client: RawClient, data: Buffer | Uint8Array | string, binary = typeof data !== 'string'): Promise<Frame> {
    const start = client.frames.length;
    client.sendRaw(Buffer.isBuffer(data) || typeof data === 'string' ? data : Buffer.from(data), { binary });
    const barrier = await client.request('ping');
    expect(barrier.result).toHaveProperty('ts');
    const replies = client.frames.slice(start).filter((frame) => frame !== barrier && frame.push === undefined);
    expect(replies).toHaveLength(1);
    return replies[0]!;
  }

  it('answers a text frame with bad_request', async () => {
    const client = await msgpackClient(plain!, 'mallory');
    const reply = await replyToRaw(client, JSON.stringify({ id: 1, op: 'ping' }), false);
    expect(reply).toMatchObject({ id: null, error: { code: 'bad_request', message: `text frames are not accepted with subprotocol ${MSGPACK}` } });
  });

  it('answers undecodable bytes with {id: null, bad_request} saying what is wrong', async () => {
    const client = await msgpackClient(plain!, 'mallory');
    const cases: Array<[string, RegExp]> = [
      ['c1', /never-used/],
      ['82a2696401', /end of MessagePack data/],
      ['81a26964010102', /end of buffer not reached/],
      ['d40500', /extension/],
      ['dd7fffffff', /end of MessagePack data/],
    ];
    for (const [hex, message] of cases) {
      const reply = await replyToRaw(client, Buffer.from(hex, 'hex'));
      expect(reply, hex).toMatchObject({ id: null, error: { code: 'bad_request' } });
      expect(reply.error.message, hex).toMatch(/^frame is not valid msgpack: /);
      expect(reply.error.message, hex).toMatch(message);
    }
    const deep = Buffer.concat([Buffer.alloc(3000, 0x91), Buffer.from([0xc0])]);
    expect((await replyToRaw(client, deep)).error).toMatchObject({ code: 'bad_request' });
  });

  it('refuses values JSON cannot carry, and strings the store cannot keep, with the request id where readable', async () => {
    const client = await msgpackClient(plain!, 'mallory');
    const { conversation } = await client.call('conversation.open', {});
    const sendFrame = (id: number, content: unknown) => pack({ id, op: 'message.send', args: { conversationId: conversation.id, clientMsgId: `bad-${id}`, content } });
    const huge = Buffer.from('83a26964cf0020000000000001a26f70a470696e67a46172677380', 'hex'); // id 2^53 + 1
    expect((await replyToRaw(client, huge)).error.message).toMatch(/safe integers/);
    expect((await replyToRaw(client, sendFrame(2, { type: 'order.card', data: { at: new Date(0) } }))).error.message).toMatch(/timestamp/);
    expect((await replyToRaw(client, sendFrame(3, { type: 'order.card', data: { file: Buffer.from('x') } }))).error.message).toMatch(/binary/);
    expect((await replyToRaw(client, sendFrame(4, { type: 'order.card', data: { total: Number.NaN } }))).error.message).toMatch(/NaN/);
    const nul = await replyToRaw(client, sendFrame(5, text('a\u0000b')));
    expect(nul).toMatchObject({ id: 5, error: { code: 'bad_request' } });
    expect(nul.error.message).toMatch(/U\+0000/);
    const wrongShape = await replyToRaw(client, pack({ id: 6, op: 'message.send', args: { conversationId: conversation.id } }));
    expect(wrongShape).toMatchObject({ id: 6, error: { code: 'bad_request' } });
    // Undefined values (msgpackr's extension for them) count as absent, as JSON.stringify would leave them out.
    const withUndefined = await replyToRaw(client, pack({ id: 7, op: 'ping', args: { unused: undefined } }));
    expect(withUndefined).toMatchObject({ id: 7, result: { ts: expect.any(Number) } });
    expect(client.closeCode).toBeNull();
    const page = await client.call('history', { conversationId: conversation.id, limit: 10 });
    expect(page.events.filter((event: Frame) => event.type === 'message.created')).toEqual([]);
  });

  it('answers a frame over PARLEY_MAX_FRAME_BYTES with too_large and its id; far over it closes with 1009', async () => {
    const client = await msgpackClient(deflating!, 'mallory');
    const big = pack({ id: 'big-1', op: 'ping', args: { padding: 'x'.repeat(5000) } });
    expect(await replyToRaw(client, big)).toMatchObject({ id: 'big-1', error: { code: 'too_large' } });
    expect(client.closeCode).toBeNull();
    client.sendRaw(pack({ id: 'huge', op: 'ping', args: { padding: 'x'.repeat(20_000) } }), { binary: true });
    expect((await client.closed()).code).toBe(1009);
  });
});

describe('permessage-deflate', () => {
  it('is off by default: a client that offers it gets no extension', async () => {
    const client = await msgpackClient(plain!, 'alice');
    expect(client.socket.extensions).toBe('');
  });

  it('is negotiated with PARLEY_WS_DEFLATE=on, and JSON and MessagePack messages flow compressed', async () => {
    const alice = await msgpackClient(deflating!, 'alice');
    const bob = await rawClient(deflating!, 'bob');
    const unwilling = await rawClient(deflating!, 'carol', { perMessageDeflate: false });
    for (const client of [alice, bob]) expect(client.socket.extensions).toMatch(/^permessage-deflate/);
    expect(unwilling.socket.extensions).toBe('');
    const { conversation } = await alice.call('conversation.open', { members: ['bob'] });
    await bob.call('subscribe', { conversationId: conversation.id });
    await alice.call('subscribe', { conversationId: conversation.id });
    // Over the 1 KiB threshold, so these are compressed; repetitive, so 3 KB fits the 4 KiB limit once inflated.
    const long = 'all work and no play makes jack a dull boy. '.repeat(70);
    const ack = await send(alice, conversation.id, long);
    const short = await send(bob, conversation.id, 'short');
    for (const client of [alice, bob]) {
      await eventually(() => expect(client.events(conversation.id).map((event) => event.seq)).toEqual([ack.seq, short.seq]));
      expect(client.events(conversation.id)[0]!.data.content.text).toBe(long);
    }
  });
});

describe('the SDK with codec: msgpack', () => {
  let proxy: TcpProxy;
  const clients: ParleyClient[] = [];
  const client = (user: string, url: string, codec: 'json' | 'msgpack' = 'msgpack') => {
    const created = new ParleyClient({ url, token: () => token(user), WebSocket: WebSocket as never, codec, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
    clients.push(created);
    return created;
  };
  const texts = (events: ConversationEvent[]) =>
    events.filter((event) => event.type === 'message.created').map((event) => (event.data.content as { text: string }).text);

  beforeAll(async () => {
    proxy = await TcpProxy.start(plain!.port);
  });
  afterAll(async () => {
    for (const created of clients) created.close();
    await proxy.close();
  });

  it('refuses an unknown codec name', () => {
    expect(() => new ParleyClient({ url: plain!.wsUrl, token: 't', WebSocket: WebSocket as never, codec: 'xml' as never })).toThrow(/codec must be one of json, msgpack/);
  });

  it('sends, receives live events from a JSON client, and resumes after its network is cut', async () => {
    const alice = client('alice', `ws://127.0.0.1:${proxy.port}/v1/ws`);
    const bob = client('bob', plain!.wsUrl, 'json');
    await Promise.all([alice.connect(), bob.connect()]);
    const { conversation } = await alice.open({ members: ['bob'] });
    const received: ConversationEvent[] = [];
    const subscription = alice.subscribe(conversation.id, { since: 0 });
    subscription.on('event', (event) => received.push(event));
    await subscription.ready;
    await alice.send(conversation.id, 'from the MessagePack client');
    await bob.send(conversation.id, 'from the JSON client');
    await eventually(() => expect(texts(received)).toEqual(['from the MessagePack client', 'from the JSON client']));

    proxy.cut();
    const offline = Array.from({ length: 20 }, (_, index) => `offline ${index}`);
    for (const value of offline) await bob.send(conversation.id, value);
    await eventually(() => expect(alice.state).toBe('reconnecting'));
    proxy.restore();
    await eventually(() => expect(texts(received)).toHaveLength(22));
    expect(texts(received)).toEqual(['from the MessagePack client', 'from the JSON client', ...offline]);
    const seqs = received.map((event) => event.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
    const page = await alice.history(conversation.id, { limit: 50 });
    expect(texts(page.events)).toEqual(texts(received));
  });
});
