import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationEvent, TransportName } from '../src/index.js';
import { SseParser } from '../src/sse-parser.js';
import { realtimeEndpoints, TransportOrder } from '../src/transports.js';
import { StreamSocket } from '../src/stream-socket.js';
import { FakeServer } from './helpers/fake-server.js';
import { closeClients, createClient, record, waitFor } from './helpers/util.js';

let server: FakeServer;

beforeEach(async () => {
  server = await FakeServer.start();
});

afterEach(async () => {
  closeClients();
  await server.close();
});

describe('fallback order', () => {
  it('falls back to SSE when WebSocket upgrades are refused, and chats over it', async () => {
    server.blockWebSockets = 'refuse';
    const client = createClient(server);
    const transports = record<TransportName>((listener) => client.on('transport', listener));
    await client.connect();
    const subscription = client.subscribe('c1', { since: 0 });
    const events = record<ConversationEvent>((listener) => subscription.on('event', listener));
    await subscription.ready;

    const acks = await Promise.all([client.send('c1', 'one'), client.send('c1', 'two'), client.send('c1', 'three')]);
    await waitFor(() => events.length === 3, 'the three events');

    expect(client.transport).toBe('sse');
    expect(transports).toEqual(['sse']);
    expect(server.http.opened).toEqual(['sse']);
    expect(acks.map((ack) => ack.seq)).toEqual([1, 2, 3]);
    expect(events.map((event) => event.seq)).toEqual([1, 2, 3]);
    // Every batch numbered in order, starting at 1.
    const numbers = server.http.sendBodies.flatMap((body) => (body.n === undefined ? [] : [body.n]));
    expect(numbers).toEqual(numbers.map((_, index) => index + 1));
  });

  it('falls back to SSE when a WebSocket does not open within webSocketTimeoutMs', async () => {
    server.blockWebSockets = 'hang';
    const client = createClient(server, { webSocketTimeoutMs: 200 });
    await client.connect();

    expect(client.transport).toBe('sse');
    expect(server.upgrades).toBe(1);
  });

  it('falls back to long-polling when the SSE stream is held back past streamTimeoutMs, and chats over it', async () => {
    server.blockWebSockets = 'refuse';
    server.http.holdStreams = true;
    const client = createClient(server, { streamTimeoutMs: 200 });
    const transports = record<TransportName>((listener) => client.on('transport', listener));
    await client.connect();
    const subscription = client.subscribe('c1');
    const events = record<ConversationEvent>((listener) => subscription.on('event', listener));
    await subscription.ready;

    await client.send('c1', 'one');
    server.append('c1', 'two');
    await waitFor(() => events.length === 2, 'the events');

    expect(transports).toEqual(['long-poll']);
    expect(server.http.opened).toEqual(['sse', 'long-poll']);
    expect(events.map((event) => event.seq)).toEqual([1, 2]);
  });

  it('speaks JSON over the HTTP transports when the codec option is msgpack', async () => {
    server.blockWebSockets = 'refuse';
    const client = createClient(server, { codec: 'msgpack' });
    await client.connect();

    const ack = await client.send('c1', 'hello');

    expect(client.transport).toBe('sse');
    expect(ack.seq).toBe(1);
  });

  it('uses only the transports it is given', async () => {
    const client = createClient(server, { transports: ['long-poll'] });
    await client.connect();

    expect(client.transport).toBe('long-poll');
    expect(server.upgrades).toBe(0);
    expect(server.http.opened).toEqual(['long-poll']);
  });

  it('starts again from the WebSocket when no transport opens, and connects once the server lets it', async () => {
    server.blockWebSockets = 'refuse';
    server.http.holdStreams = true;
    const failing = server.http.handle.bind(server.http);
    let refuse = true;
    server.http.handle = (request, response) => (refuse && request.url?.startsWith('/v1/rt/poll') ? void response.writeHead(503).end() : failing(request, response));
    const client = createClient(server, { streamTimeoutMs: 100 });
    const errors = record<Error>((listener) => client.on('error', listener));
    void client.connect();

    await waitFor(() => server.upgrades >= 2, 'a second round that starts with a WebSocket');
    server.blockWebSockets = undefined;
    await client.connect();
    refuse = false;

    expect(client.transport).toBe('websocket');
    expect(errors.some((error) => /no transport could reach/.test(error.message))).toBe(true);
  });
});

describe('probe', () => {
  it('moves back to a WebSocket when a probe opens, keeping the outbox and the subscription', async () => {
    server.blockWebSockets = 'refuse';
    const client = createClient(server, { probeIntervalMs: 100 });
    const transports = record<TransportName>((listener) => client.on('transport', listener));
    await client.connect();
    const subscription = client.subscribe('c1');
    const events = record<ConversationEvent>((listener) => subscription.on('event', listener));
    await subscription.ready;
    await client.send('c1', 'over sse');

    server.blockWebSockets = undefined;
    // Sent while the switch happens: stored once whichever connection carries it.
    const sends = [client.send('c1', 'around the switch 1'), client.send('c1', 'around the switch 2')];
    await waitFor(() => client.transport === 'websocket', 'the move to a WebSocket');
    await Promise.all(sends);
    server.append('c1', 'over the websocket');
    await waitFor(() => events.length === 4, 'every event');

    expect(transports).toEqual(['sse', 'websocket']);
    expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4]);
    expect(server.log('c1')).toHaveLength(4);
    expect(server.requests('subscribe').at(-1)?.args.since).toBeGreaterThanOrEqual(1);
  });

  it('waits for the requests in flight on the fallback before it moves, so that none fails for the move', async () => {
    server.blockWebSockets = 'refuse';
    const client = createClient(server, { probeIntervalMs: 100 });
    await client.connect();
    let held: (() => void) | undefined;
    server.intercept = (request, connection) => {
      if (request.op !== 'ping') return false;
      held = () => connection.reply(request.id, { ts: Date.now() });
      return true;
    };
    const ping = client.ping();
    await waitFor(() => held !== undefined, 'the ping to reach the server');

    server.blockWebSockets = undefined;
    // The probe closes its socket as soon as it opened, just before the client starts to move.
    await waitFor(() => server.connections.some((connection) => connection.closeCode === 1000), 'a probe that opened');
    held!();

    await expect(ping).resolves.toMatchObject({ ts: expect.any(Number) });
    await waitFor(() => client.transport === 'websocket', 'the move to a WebSocket');
  });

  it('does not probe when the WebSocket is in use', async () => {
    const client = createClient(server, { probeIntervalMs: 50 });
    await client.connect();
    await client.ping();
    await client.ping();

    expect(client.transport).toBe('websocket');
    expect(server.upgrades).toBe(1);
  });
});

describe('HTTP sessions', () => {
  for (const transport of ['sse', 'long-poll'] as const) {
    it(`${transport}: a session the server forgot (410) reconnects, resumes by seq and re-sends unacknowledged messages once`, async () => {
      const client = createClient(server, { transports: [transport] });
      await client.connect();
      const subscription = client.subscribe('c1');
      const events = record<ConversationEvent>((listener) => subscription.on('event', listener));
      await subscription.ready;
      server.append('c1', 'one');
      await waitFor(() => events.length === 1, 'the first event');

      // Gone from the server's sessions while the stream or poll is still attached: the next POST gets 410.
      server.http.sessions.clear();
      server.append('c1', 'stored while away', { push: false });
      const ack = await client.send('c1', 'after the expiry');
      await waitFor(() => events.length === 3, 'the missed events');

      expect(ack.seq).toBe(3);
      expect(events.map((event) => event.seq)).toEqual([1, 2, 3]);
      expect(server.http.opened).toEqual([transport, transport]);
      expect(server.requests('subscribe').at(-1)?.args.since).toBe(1);
    });

    it(`${transport}: a session dropped without a word reconnects and resumes`, async () => {
      const client = createClient(server, { transports: [transport] });
      await client.connect();
      const subscription = client.subscribe('c1');
      const events = record<ConversationEvent>((listener) => subscription.on('event', listener));
      await subscription.ready;

      server.http.expireSessions();
      server.append('c1', 'stored while away', { push: false });
      await waitFor(() => events.length === 1, 'the missed event');

      expect(server.http.opened).toEqual([transport, transport]);
    });

    it(`${transport}: a close from the server (4500) ends the client for good`, async () => {
      const client = createClient(server, { transports: [transport] });
      const errors = record<Error>((listener) => client.on('error', listener));
      await client.connect();

      server.current.closeWith(4500, 'revoked');
      await waitFor(() => client.state === 'closed', 'the client to close');

      expect(errors.at(-1)).toMatchObject({ code: 'unauthorized', closeCode: 4500 });
      expect(server.http.opened).toEqual([transport]);
    });
  }

  it('sse: a batch refused as too large goes again in smaller ones, in order and once; a frame too large alone fails its request', async () => {
    server.http.maxBodyBytes = 2_000;
    const client = createClient(server, { transports: ['sse'] });
    await client.connect();

    const texts = Array.from({ length: 20 }, (_, index) => `${index} ${'x'.repeat(300)}`);
    const acks = await Promise.all(texts.map((text) => client.send('c1', text)));
    const tooLarge = await client.send('c1', 'y'.repeat(3_000)).catch((error: unknown) => error);

    expect(acks.map((ack) => ack.seq)).toEqual(texts.map((_, index) => index + 1));
    expect(server.log('c1').map((event) => (event.data as { content: { text: string } }).content.text)).toEqual(texts);
    expect(tooLarge).toMatchObject({ code: 'too_large' });
    expect(client.state).toBe('connected');
    const numbers = server.http.sendBodies.flatMap((body) => (body.n === undefined ? [] : [body.n]));
    expect(numbers).toEqual(numbers.map((_, index) => index + 1));
  });

  it('sse: acknowledges the positions it received, alone when there is nothing to send', async () => {
    const client = createClient(server, { transports: ['sse'] });
    await client.connect();
    const subscription = client.subscribe('c1');
    await subscription.ready;
    server.append('c1', 'one');
    server.append('c1', 'two');

    await waitFor(() => server.http.sendBodies.some((body) => body.n === undefined && (body.ack ?? 0) >= 3), 'an ack-only POST');
    const session = [...server.http.sessions.values()][0];
    expect(session?.kept).toEqual([]);
  });
});

describe('StreamSocket', () => {
  it('acknowledges at once when 64 KiB arrived, without waiting for its ack timer', async () => {
    const socket = new StreamSocket({ endpoints: realtimeEndpoints(server.url), fetch, ackIntervalMs: 3_600_000 });
    const received: string[] = [];
    socket.onmessage = (event) => received.push(event.data);
    await waitFor(() => socket.readyState === 1, 'the stream to open');
    const session = [...server.http.sessions.values()][0]!;

    for (let index = 0; index < 100; index++) session.send(JSON.stringify({ index, text: 'y'.repeat(1000) }));
    await waitFor(() => server.http.sendBodies.some((body) => body.ack !== undefined), 'an ack');
    await waitFor(() => received.length === 100, 'every frame');
    socket.close();

    const firstAck = server.http.sendBodies.find((body) => body.ack !== undefined)!;
    // About 64 frames of 1 KiB make 64 KiB: acknowledged then, not after all 100 (nor never, with an hour-long timer).
    expect(firstAck.ack).toBeGreaterThanOrEqual(60);
    expect(firstAck.n).toBeUndefined();
  });
});

describe('SseParser', () => {
  it('parses events split anywhere, with CRLF, CR or LF, multi-line data, comments and ids', () => {
    const parser = new SseParser();
    const text = ': comment\r\nevent: open\r\ndata: {"a":1}\r\n\r\nid: 7\rdata: line 1\rdata: line 2\r\rdata:no space\n\nevent: empty\n\n';
    const events = [...text].flatMap((character) => parser.feed(character));

    expect(events).toEqual([
      { event: 'open', data: '{"a":1}', id: undefined },
      { event: 'message', data: 'line 1\nline 2', id: '7' },
      { event: 'message', data: 'no space', id: '7' },
    ]);
  });
});

describe('realtimeEndpoints', () => {
  it('derives the HTTP endpoints from the WebSocket URL', () => {
    expect(realtimeEndpoints('wss://chat.example.com/v1/ws')).toEqual({
      stream: 'https://chat.example.com/v1/rt/stream',
      poll: 'https://chat.example.com/v1/rt/poll',
      send: 'https://chat.example.com/v1/rt/send',
    });
    expect(realtimeEndpoints('ws://127.0.0.1:8080/parley/v1/ws').send).toBe('http://127.0.0.1:8080/parley/v1/rt/send');
  });
});

describe('TransportOrder', () => {
  it('tries the whole list until one opens, then retries the one that worked alone for 10 s after a drop, and the whole list after that', () => {
    let now = 0;
    const order = new TransportOrder(['websocket', 'sse', 'long-poll'], () => now);
    expect(order.attempt()).toEqual(['websocket', 'sse', 'long-poll']);
    order.failed();
    expect(order.attempt()).toEqual(['websocket', 'sse', 'long-poll']);
    order.opened('websocket');
    // A network briefly away fails every transport: the one that worked is retried alone first.
    order.failed();
    expect(order.attempt()).toEqual(['websocket']);
    now = 9_999;
    order.failed();
    expect(order.attempt()).toEqual(['websocket']);
    now = 10_000;
    order.failed();
    expect(order.attempt()).toEqual(['websocket', 'sse', 'long-poll']);
    order.opened('sse');
    order.failed();
    expect(order.attempt()).toEqual(['sse']);
    order.restart();
    expect(order.attempt()).toEqual(['websocket']);
  });
});
