import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyFrameSchema } from '@parley/protocol';
import { Pair } from '../support/pair.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

/**
 * Malformed, oversized, abusive and out-of-order input: each gets its documented error, the abusing
 * connection stays usable where the protocol says so, and other clients on the same server keep chatting.
 *
 * Two servers:
 * - `plain`: default limits (128 KiB frames, 20 frames/s, burst 60).
 * - `tight`: PARLEY_MAX_FRAME_BYTES=4096, PARLEY_RATE_PER_SECOND=5, PARLEY_RATE_BURST=10.
 */

type Frame = Record<string, any>;

let plain: TestServer | undefined;
let tight: TestServer | undefined;
let plainPair: Pair;
let tightPair: Pair;

/**
 * Sends raw data, then a ping as a barrier, and returns the one reply the data got: errors for frames that
 * cannot be parsed are sent at once, and requests are answered in order, so it arrives before the ping's.
 */
async function replyToRaw(client: RawClient, data: string | Buffer, binary = false): Promise<Frame> {
  const start = client.frames.length;
  client.sendRaw(data, { binary });
  const barrier = await client.request('ping');
  expect(barrier.result, `ping after ${String(data).slice(0, 80)}: ${JSON.stringify(barrier)}`).toHaveProperty('ts');
  const replies = client.frames.slice(start).filter((frame) => frame !== barrier && frame.push === undefined);
  expect(replies, `replies to ${String(data).slice(0, 80)}`).toHaveLength(1);
  return replies[0]!;
}

/** Sends raw data and resolves with the reply carrying `id`. */
function replyTo(client: RawClient, id: unknown, data: string): Promise<Frame> {
  client.sendRaw(data);
  return client.waitFor((frame) => frame.id === id && (frame.error !== undefined || frame.result !== undefined), 5000);
}

/** The connection is open and answers requests. */
async function expectUsable(client: RawClient): Promise<void> {
  expect(client.closeCode).toBeNull();
  expect(await client.call('ping')).toHaveProperty('ts');
}

/** A reply to `id`, or a failure if the connection closes first (as when the server process dies). */
function replyOrClose(client: RawClient, server: TestServer, data: string): Promise<Frame> {
  const id = (JSON.parse(data) as { id: unknown }).id;
  return Promise.race([
    replyTo(client, id, data),
    client.closed(5000).then(async ({ code }) => {
      await sleep(200); // let the server's last words reach its log
      const exit = server.process.exitCode;
      const tail = server.logs.filter((line) => line.trim() !== '').slice(-12).map((line) => line.slice(0, 200));
      throw new Error(`connection closed with ${code} instead of a reply; server exit code ${exit}; server log:\n${tail.join('\n')}`);
    }),
  ]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (value: string) => ({ type: 'text', text: value });

beforeAll(async () => {
  const servers = await Promise.allSettled([
    startServer(),
    startServer({ PARLEY_MAX_FRAME_BYTES: '4096', PARLEY_RATE_PER_SECOND: '5', PARLEY_RATE_BURST: '10' }),
  ]);
  if (servers[0].status === 'fulfilled') plain = servers[0].value;
  if (servers[1].status === 'fulfilled') tight = servers[1].value;
  for (const server of servers) if (server.status === 'rejected') throw server.reason;
  plainPair = await Pair.open(plain!.wsUrl, await token('alice'), await token('bob'), 'bob', 'sentinel-room');
  tightPair = await Pair.open(tight!.wsUrl, await token('alice'), await token('bob'), 'bob', 'sentinel-room');
});

afterAll(async () => {
  await Promise.all([plain?.stop(), tight?.stop()]);
});

describe('malformed frames (default limits)', () => {
  it('answers malformed JSON with {id: null, bad_request} and keeps the connection open', async () => {
    const client = await RawClient.connect(plain!.wsUrl, await token('mallory'));
    for (const garbage of ['{"id":1,"op":"ping"', 'hello', '', '{"id":2,"op":"ping",}', "{'id':3,'op':'ping'}", '\u0000\u0001']) {
      const reply = await replyToRaw(client, garbage);
      expect(reply, JSON.stringify(garbage)).toMatchObject({ id: null, error: { code: 'bad_request' } });
      expect(client.closeCode).toBeNull();
    }
    await expectUsable(client);
    await plainPair.exchange();
  });

  it('answers frames of the wrong shape with bad_request, with the request id when it is recoverable', async () => {
    const client = await RawClient.connect(plain!.wsUrl, await token('mallory'));
    const conversationId = 'shapes';
    await client.call('conversation.open', { conversationId });

    // The id itself is unusable: the reply has id null.
    for (const frame of [
      { id: { a: 1 }, op: 'ping', args: {} },
      { id: [1], op: 'ping' },
      { id: -1, op: 'ping' },
      { id: 1.5, op: 'ping' },
      { id: 'x'.repeat(65), op: 'ping' },
      { id: '', op: 'ping' },
      { op: 'ping' },
      [1, 2, 3],
      null,
      42,
      'ping',
    ]) {
      const reply = await replyToRaw(client, JSON.stringify(frame));
      expect.soft(reply, JSON.stringify(frame)).toMatchObject({ id: null, error: { code: 'bad_request' } });
      expect.soft(replyFrameSchema.safeParse(reply).success, `reply violates the protocol: ${JSON.stringify(reply)}`).toBe(true);
    }

    // The id is valid: the reply carries it. (Ids far from the ones RawClient numbers its own requests with.)
    const cases: Array<[string | number, Record<string, unknown>]> = [
      ['op-number', { op: 42 }],
      ['op-missing', {}],
      ['op-empty', { op: '' }],
      [9011, { op: 'message.send', args: { conversationId, clientMsgId: 'm1', content: { type: 'text', text: 42 } } }],
      [9012, { op: 'read', args: { conversationId, seq: -1 } }],
      [9013, { op: 'read', args: { conversationId, seq: 1.5 } }],
      [9014, { op: 'history', args: { conversationId, limit: '10' } }],
      [9015, { op: 'history', args: { conversationId, limit: 100_000 } }],
      [9016, { op: 'ping', args: 'nope' }],
      [9017, { op: 'typing', args: { conversationId, active: 'yes' } }],
      [9018, { op: 'subscribe', args: { conversationId, since: -5 } }],
      [9019, { op: 'message.send', args: { conversationId: 7, clientMsgId: 'm1', content: text('hi') } }],
      [9020, { op: 'message.send', args: { conversationId, clientMsgId: 'm1', content: text('hi'), replyTo: 0 } }],
      [9021, { op: 'conversation.open', args: { conversationId: 'x', members: 'bob' } }],
      [9022, { op: 'message.send', args: [conversationId, 'm1', 'hi'] }],
      ['string-id', { op: 'message.send', args: { conversationId, clientMsgId: 'm1', content: { text: 'hi' } } }],
    ];
    for (const [id, rest] of cases) {
      const reply = await replyTo(client, id, JSON.stringify({ id, ...rest }));
      expect.soft(reply, JSON.stringify(rest)).toMatchObject({ id, error: { code: 'bad_request' } });
      expect.soft(replyFrameSchema.safeParse(reply).success, `reply violates the protocol: ${JSON.stringify(reply)}`).toBe(true);
    }
    // Nothing was appended by the refused sends.
    expect((await client.call('conversation.get', { conversationId })).conversation.lastSeq).toBe(1);
    await expectUsable(client);
    await plainPair.exchange();
  });

  it('answers an unknown operation with bad_request naming it', async () => {
    const client = await RawClient.connect(plain!.wsUrl, await token('mallory'));
    for (const op of ['conversation.delete', 'admin.shutdown', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const reply = await client.request(op, {});
      expect(reply.error?.code, `${op}: ${JSON.stringify(reply)}`).toBe('bad_request');
      expect(reply.error.message).toContain(op);
    }
    await expectUsable(client);
    await plainPair.exchange();
  });

  it('answers binary garbage with bad_request and keeps the connection open', async () => {
    const client = await RawClient.connect(plain!.wsUrl, await token('mallory'));
    for (let i = 0; i < 3; i++) {
      const reply = await replyToRaw(client, randomBytes(256), true);
      expect(reply).toMatchObject({ id: null, error: { code: 'bad_request' } });
    }
    await expectUsable(client);
    await plainPair.exchange();
  });

  it('refuses operations before connect with unauthorized; a later connect works', async () => {
    const client = await RawClient.open(plain!.wsUrl);
    for (const [op, args] of [
      ['ping', {}],
      ['conversation.open', { conversationId: 'before-connect' }],
      ['message.send', { conversationId: 'sentinel-room', clientMsgId: 'sneaky', content: text('before connect') }],
      ['history', { conversationId: 'sentinel-room' }],
      ['subscribe', { conversationId: 'sentinel-room' }],
      ['token.refresh', { token: await token('mallory') }],
    ] as const) {
      const reply = await client.request(op, args);
      expect(reply.error, `${op}: ${JSON.stringify(reply)}`).toMatchObject({ code: 'unauthorized', message: expect.stringContaining('connect') });
    }
    expect(client.closeCode).toBeNull();
    const connected = await client.call('connect', { token: await token('mallory') });
    expect(connected.principal.userId).toBe('mallory');
    await expectUsable(client);
    // The requests before connect had no effect.
    expect((await client.request('conversation.get', { conversationId: 'before-connect' })).error?.code).toBe('not_found');
    expect(client.events()).toEqual([]);
    expect(plainPair.b.events().some((event) => event.causation?.clientMsgId === 'sneaky')).toBe(false);
    await plainPair.exchange();
  });

  it('answers a second connect with conflict; the session keeps its first identity', async () => {
    const client = await RawClient.connect(plain!.wsUrl, await token('dave'));
    for (const jwt of [await token('dave'), await token('erin'), await token('erin', { tenant: 'other', roles: ['admin'] })]) {
      const reply = await client.request('connect', { token: jwt });
      expect(reply.error?.code, JSON.stringify(reply)).toBe('conflict');
    }
    await expectUsable(client);
    const opened = await client.call('conversation.open', { conversationId: 'dave-room' });
    expect(opened.conversation).toMatchObject({ tenant: 'acme', createdBy: 'dave' });
    await plainPair.exchange();
  });

  it('refuses an unsupported subprotocol with HTTP 400 at the upgrade', async () => {
    for (const protocol of ['parley.v2.json', 'parley.v2.msgpack', ['mqtt', 'graphql-ws']]) {
      await expect(RawClient.open(plain!.wsUrl, { protocol }), JSON.stringify(protocol)).rejects.toThrow('HTTP 400');
    }
    // An unsupported one next to the supported one is fine, and so is none (JSON is the default).
    const mixed = await RawClient.open(plain!.wsUrl, { protocol: ['mqtt', 'parley.v1.json'] });
    expect(mixed.socket.protocol).toBe('parley.v1.json');
    expect((await mixed.call('connect', { token: await token('frank') })).principal.userId).toBe('frank');
    mixed.close();
    const none = await RawClient.open(plain!.wsUrl, { protocol: [] });
    expect((await none.call('connect', { token: await token('frank') })).principal.userId).toBe('frank');
    none.close();
    await plainPair.exchange();
  });

  it('validates message content and identifiers', async () => {
    const client = await RawClient.connect(plain!.wsUrl, await token('grace'));
    const conversationId = 'content-checks';
    await client.call('conversation.open', { conversationId });
    const send = (clientMsgId: string, content: unknown, id = conversationId) => client.request('message.send', { conversationId: id, clientMsgId, content });

    const refused: Array<[string, Promise<Frame>]> = [
      ['empty text', send('empty', text(''))],
      ['text over 32768 chars', send('long', text('x'.repeat(32_769)))],
      ['clientMsgId with spaces', send('has spaces', text('hi'))],
      ['clientMsgId with a slash', send('a/b', text('hi'))],
      ['empty clientMsgId', send('', text('hi'))],
      ['conversationId over 128 chars', send('c1', text('hi'), 'c'.repeat(129))],
      ['structured content with type "text" and no text', send('s1', { type: 'text', data: {} })],
      ['structured content with an invalid type', send('s2', { type: 'Not Valid', data: {} })],
    ];
    for (const [name, pending] of refused) {
      const reply = await pending;
      expect(reply.error?.code, `${name}: ${JSON.stringify(reply).slice(0, 300)}`).toBe('bad_request');
    }
    const openLong = await client.request('conversation.open', { conversationId: 'c'.repeat(129) });
    expect(openLong.error?.code).toBe('bad_request');
    const openSpaces = await client.request('conversation.open', { conversationId: 'has spaces' });
    expect(openSpaces.error?.code).toBe('bad_request');
    expect((await client.call('conversation.get', { conversationId })).conversation.lastSeq).toBe(1);

    // The limits themselves are allowed.
    const longest = await client.call('message.send', { conversationId, clientMsgId: 'longest', content: text('y'.repeat(32_768)) });
    expect(longest.seq).toBe(2);
    const longId = await client.call('conversation.open', { conversationId: 'c'.repeat(128) });
    expect(longId.created).toBe(true);
    await expectUsable(client);
    await plainPair.exchange();
  });

  it('never answers schema-valid text or JSON data with `internal` (U+0000, lone surrogates)', async () => {
    const client = await RawClient.connect(plain!.wsUrl, await token('heidi'));
    const conversationId = 'odd-characters';
    await client.call('conversation.open', { conversationId });
    await client.call('subscribe', { conversationId });
    const attempts: Array<[string, string, Record<string, unknown>]> = [
      ['text with U+0000', 'message.send', { conversationId, clientMsgId: 'nul-text', content: text('before\u0000after') }],
      ['structured data with U+0000', 'message.send', { conversationId, clientMsgId: 'nul-data', content: { type: 'card', data: { title: 'a\u0000b' } } }],
      ['metadata with U+0000', 'conversation.open', { conversationId: 'nul-meta', metadata: { topic: 'a\u0000b' } }],
      ['text with a lone surrogate', 'message.send', { conversationId, clientMsgId: 'lone-surrogate', content: text('half \ud800 a pair') }],
    ];
    for (const [name, op, args] of attempts) {
      const reply = await client.request(op, args);
      // Accepted (and then stored faithfully) or refused as a bad request; `internal` means a server bug.
      expect.soft(reply.error?.code ?? 'ok', `${name}: ${JSON.stringify(reply)}`).toMatch(/^(ok|bad_request)$/);
    }
    // Accepted messages come back intact; refused ones left no gap in the sequence.
    const history = await client.call('history', { conversationId });
    const seqs = history.events.map((event: Frame) => event.seq);
    expect(seqs).toEqual(seqs.map((_: number, index: number) => index + 1));
    const stored = history.events.find((event: Frame) => event.causation?.clientMsgId === 'nul-text');
    if (stored) expect(stored.data.content.text).toBe('before\u0000after');
    const ack = await client.call('message.send', { conversationId, clientMsgId: 'after-odd', content: text('normal') });
    expect(ack.seq).toBe(seqs.length + 1);
    await expectUsable(client);
    await plainPair.exchange();
  });
});

describe('size and rate limits (PARLEY_MAX_FRAME_BYTES=4096, PARLEY_RATE_PER_SECOND=5, PARLEY_RATE_BURST=10)', () => {
  it('answers a frame over the limit with too_large and its id; keeps the connection', async () => {
    const client = await RawClient.connect(tight!.wsUrl, await token('ivan'));
    const frame = (id: number, size: number) => {
      const head = `{"id":${id},"op":"ping","args":{"pad":"`;
      const tail = '"}}';
      return head + 'x'.repeat(size - head.length - tail.length) + tail;
    };
    expect(Buffer.byteLength(frame(7, 10 * 1024))).toBe(10 * 1024);

    const reply = await replyTo(client, 7, frame(7, 10 * 1024));
    expect(reply).toMatchObject({ id: 7, error: { code: 'too_large' } });
    await expectUsable(client);
    // The limit is inclusive: exactly 4096 bytes is processed, 4097 is not.
    expect((await replyTo(client, 8, frame(8, 4096))).result).toHaveProperty('ts');
    expect((await replyTo(client, 9, frame(9, 4097))).error?.code).toBe('too_large');
    await expectUsable(client);
    await tightPair.exchange();
  });

  it('closes the connection with 1009 for a frame over 4x the limit', async () => {
    const client = await RawClient.connect(tight!.wsUrl, await token('ivan'));
    client.sendRaw(JSON.stringify({ id: 10, op: 'ping', args: { pad: 'x'.repeat(20 * 1024) } }));
    expect((await client.closed(5000)).code).toBe(1009);
    await tightPair.exchange();
  });

  it('rate limits a burst: some replies are rate_limited with retryAfterMs; after waiting that long a ping succeeds', async () => {
    const client = await RawClient.connect(tight!.wsUrl, await token('judy'));
    const ids = Array.from({ length: 30 }, (_, index) => 100 + index);
    for (const id of ids) client.sendRaw(JSON.stringify({ id, op: 'ping', args: {} }));
    const replies = await Promise.all(ids.map((id) => client.waitFor((frame) => frame.id === id, 5000)));

    const limited = replies.filter((reply) => reply.error);
    const served = replies.filter((reply) => reply.result);
    expect(served.length).toBeGreaterThan(0);
    expect(served.length).toBeLessThanOrEqual(10); // the burst, and connect took one
    expect(limited.length).toBe(30 - served.length);
    for (const reply of limited) {
      expect(reply.error.code).toBe('rate_limited');
      expect(Number.isInteger(reply.error.retryAfterMs)).toBe(true);
      expect(reply.error.retryAfterMs).toBeGreaterThan(0);
    }
    expect(client.closeCode).toBeNull();

    // Other connections are not limited by this one.
    await tightPair.exchange();

    const last = limited.at(-1)!;
    await sleep(last.error.retryAfterMs + 25);
    const after = await client.request('ping');
    expect(after.error, JSON.stringify(after)).toBeUndefined();
    expect(after.result).toHaveProperty('ts');
    await tightPair.exchange();
  });
});

// Last in the file: when it fails, the server process may be gone.
describe('deeply nested JSON (default limits)', () => {
  it('answers deeply nested arguments (a 20 KB frame) without crashing the server', async () => {
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    const depth = 10_000; // about 20 KB, well under the 128 KiB frame limit
    // Refusing is fine (and so is storing it, after connect); `internal` or no reply at all is not.
    const expected = /^(ok|bad_request|too_large|unauthorized)$/;

    // Before connect (anyone who can open a socket).
    const anonymous = await RawClient.open(plain!.wsUrl);
    const early = await replyOrClose(anonymous, plain!, `{"id":"early","op":"message.send","args":{"conversationId":"deep","clientMsgId":"deep","content":{"type":"deep","data":${nested(depth)}}}}`);
    expect(early.error?.code ?? 'ok', JSON.stringify(early).slice(0, 300)).toMatch(expected);
    expect((await anonymous.request('ping')).error?.code).toBe('unauthorized'); // still open, still not connected

    // After connect, in message data and in conversation metadata.
    const client = await RawClient.connect(plain!.wsUrl, await token('karl'));
    await client.call('conversation.open', { conversationId: 'deep' });
    const inData = await replyOrClose(client, plain!, `{"id":"data","op":"message.send","args":{"conversationId":"deep","clientMsgId":"deep","content":{"type":"deep","data":${nested(depth)}}}}`);
    expect(inData.error?.code ?? 'ok', JSON.stringify(inData).slice(0, 300)).toMatch(expected);
    const inMetadata = await replyOrClose(client, plain!, `{"id":"meta","op":"conversation.open","args":{"conversationId":"deep-meta","metadata":{"a":${nested(depth)}}}}`);
    expect(inMetadata.error?.code ?? 'ok', JSON.stringify(inMetadata).slice(0, 300)).toMatch(expected);
    await expectUsable(client);
    await plainPair.exchange();
  });
});
