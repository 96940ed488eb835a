import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ParleyClient, ParleyClientError, type ClientState } from '../src/index.js';
import { WebSocket } from 'ws';
import { FakeServer } from './helpers/fake-server.js';
import { closeClients, createClient, record, sleep, waitFor } from './helpers/util.js';

let server: FakeServer;

beforeEach(async () => {
  server = await FakeServer.start();
});

afterEach(async () => {
  closeClients();
  vi.unstubAllGlobals();
  await server.close();
});

describe('connect and requests', () => {
  it('connects, then answers typed requests', async () => {
    const client = createClient(server);
    const states = record<ClientState>((listener) => client.on('state', listener));

    const session = await client.connect();

    expect(session.principal.userId).toBe('alice');
    expect(client.session).toEqual(session);
    expect(client.state).toBe('connected');
    expect(states).toEqual(['connecting', 'connected']);
    expect(server.requests('connect')[0]?.args).toMatchObject({ token: 'token-1', client: { name: '@parley/client' } });
    const opened = await client.open({ conversationId: 'c1', members: ['alice'] });
    expect(opened).toMatchObject({ created: true, conversation: { id: 'c1' } });
    expect((await client.getConversation('c1')).members).toEqual(['alice']);
    expect(await client.markRead('c1', 3)).toEqual({ seq: 3, changed: true });
    expect((await client.presence('c1')).online).toEqual([{ userId: 'alice', connections: 1 }]);
    await client.typing('c1', true);
    expect(server.requests('typing')[0]?.args).toEqual({ conversationId: 'c1', active: true });
    expect(typeof (await client.ping()).ts).toBe('number');
  });

  it('rejects with the server error code', async () => {
    const client = createClient(server);
    await client.connect();

    const error = await client.getConversation('missing').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ParleyClientError);
    expect(error).toMatchObject({ code: 'not_found', retryable: false });
  });

  it('throws a clear error when there is no WebSocket implementation and only WebSockets are allowed', () => {
    vi.stubGlobal('WebSocket', undefined);
    expect(() => new ParleyClient({ url: server.url, token: 'token', transports: ['websocket'] })).toThrow(/no WebSocket implementation.*ws/);
    // With the default list the HTTP transports remain.
    expect(() => new ParleyClient({ url: server.url, token: 'token' })).not.toThrow();
  });

  it('refuses invalid transport options with bad_request', () => {
    const invalid = [{ transports: [] }, { transports: ['carrier-pigeon'] }, { transports: ['sse', 'sse'] }, { webSocketTimeoutMs: 0 }, { probeIntervalMs: -1 }, { streamTimeoutMs: Number.NaN }];
    for (const options of invalid) {
      expect(() => new ParleyClient({ url: server.url, token: 'token', WebSocket, ...(options as object) })).toThrow(ParleyClientError);
    }
    expect(() => new ParleyClient({ url: 'ws://127.0.0.1:1/socket', token: 'token', transports: ['sse'] })).toThrow(/must end in \/ws/);
  });

  it('lets requests made before connecting wait for the connection', async () => {
    const client = createClient(server);
    const pong = client.ping();

    await client.connect();

    await expect(pong).resolves.toHaveProperty('ts');
  });

  it('times out a request the server never answers, and keeps the connection', async () => {
    const client = createClient(server, { requestTimeoutMs: 200 });
    server.intercept = (request) => request.op === 'ping';
    await client.connect();

    await expect(client.ping()).rejects.toMatchObject({ code: 'timeout', retryable: true });
    expect(client.state).toBe('connected');
    expect(server.requests('ping')).toHaveLength(1);
  });

  it('times out a request that waits for a connection that never comes', async () => {
    const client = createClient(server, { requestTimeoutMs: 100 });

    await expect(client.history('c1')).rejects.toMatchObject({ code: 'timeout' });
    expect(server.received).toHaveLength(0);
  });

  it('rejects invalid arguments locally, without sending them', async () => {
    const client = createClient(server);
    await client.connect();

    await expect(client.send('c1', '')).rejects.toMatchObject({ code: 'bad_request' });
    await expect(client.history('bad id!')).rejects.toMatchObject({ code: 'bad_request' });
    expect(() => client.subscribe('c1', { since: -1 })).toThrow(ParleyClientError);
    expect(server.requests('message.send')).toHaveLength(0);
    expect(server.requests('history')).toHaveLength(0);
  });

  it('close() rejects what is pending, ends subscriptions and never reconnects', async () => {
    const client = createClient(server);
    server.intercept = (request) => request.op === 'ping' || request.op === 'message.send';
    await client.connect();
    const subscription = client.subscribe('c1');
    const ends = record<Error | undefined>((listener) => subscription.on('end', listener));
    const pong = client.ping();
    const sent = client.send('c1', 'hello');
    await waitFor(() => server.requests('message.send').length === 1, 'the message to be sent');

    client.close();

    await expect(pong).rejects.toMatchObject({ code: 'closed' });
    await expect(sent).rejects.toMatchObject({ code: 'closed' });
    expect(ends).toEqual([undefined]);
    expect(client.state).toBe('closed');
    await expect(client.connect()).rejects.toMatchObject({ code: 'closed' });
    await expect(client.ping()).rejects.toMatchObject({ code: 'closed' });
    await sleep(100);
    expect(server.requests('connect')).toHaveLength(1);
  });

  it('reports malformed server frames and carries on', async () => {
    const client = createClient(server);
    const errors = record<Error>((listener) => client.on('error', listener));
    await client.connect();

    server.current.send('not json');
    server.current.send({ push: 'event', event: { seq: 'one' } });
    server.current.send({ hello: 'world' });
    server.current.send({ id: null, error: { code: 'bad_request', message: 'unreadable frame' } });

    await expect(client.ping()).resolves.toHaveProperty('ts');
    expect(errors).toHaveLength(4);
    expect(errors.every((error) => error instanceof ParleyClientError)).toBe(true);
    expect(errors[3]).toMatchObject({ code: 'bad_request', message: 'unreadable frame' });
    expect(client.state).toBe('connected');
  });

  it('rejects a request whose reply is malformed instead of waiting for the timeout', async () => {
    const client = createClient(server, { requestTimeoutMs: 60_000 });
    server.intercept = (request, connection) => {
      if (request.op !== 'ping') return false;
      connection.reply(request.id, { ts: 'yesterday' });
      return true;
    };
    await client.connect();

    await expect(client.ping()).rejects.toMatchObject({ code: 'internal', message: /malformed ping result/ });
  });

  it('reports a listener that throws without breaking the others', async () => {
    const client = createClient(server);
    const errors = record<Error>((listener) => client.on('error', listener));
    const states = record<ClientState>((listener) => client.on('state', listener));
    client.on('state', () => {
      throw new Error('listener bug');
    });

    await client.connect();

    expect(states).toEqual(['connecting', 'connected']);
    expect(errors.map((error) => error.message)).toEqual(['listener bug', 'listener bug']);
  });
});

describe('send', () => {
  it('resolves with the ack and stores one message per clientMsgId', async () => {
    const client = createClient(server);
    await client.connect();

    const ack = await client.send('c1', 'hello', { clientMsgId: 'm-1' });
    const again = await client.send('c1', 'hello', { clientMsgId: 'm-1' });

    expect(ack).toMatchObject({ seq: 1, duplicate: false });
    expect(again).toEqual({ ...ack, duplicate: true });
    expect(server.log('c1')).toHaveLength(1);
    expect(server.log('c1')[0]?.data).toEqual({ content: { type: 'text', text: 'hello' } });
    expect(client.pendingMessages).toBe(0);
  });

  it('generates a UUID clientMsgId and passes structured content and replyTo', async () => {
    const client = createClient(server);
    await client.connect();

    await client.send('c1', { type: 'card', data: { title: 'hi' } }, { replyTo: 1 });

    const args = server.requests('message.send')[0]?.args;
    expect(args?.clientMsgId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(args).toMatchObject({ content: { type: 'card', data: { title: 'hi' } }, replyTo: 1 });
  });

  it('retries a retryable error after retryAfterMs with the same clientMsgId', async () => {
    const client = createClient(server);
    let refusals = 0;
    server.intercept = (request, connection) => {
      if (request.op !== 'message.send' || refusals > 0) return false;
      refusals += 1;
      connection.fail(request.id, 'rate_limited', 'slow down', 20);
      return true;
    };
    await client.connect();

    const ack = await client.send('c1', 'hello');

    const sends = server.requests('message.send');
    expect(sends).toHaveLength(2);
    expect(sends[1]?.args.clientMsgId).toBe(sends[0]?.args.clientMsgId);
    expect(ack.duplicate).toBe(false);
    expect(server.log('c1')).toHaveLength(1);
  });

  it('rejects a non-retryable error and forgets the message', async () => {
    const client = createClient(server);
    server.intercept = (request, connection) => {
      if (request.op !== 'message.send') return false;
      connection.fail(request.id, 'forbidden', 'not a member');
      return true;
    };
    await client.connect();

    await expect(client.send('c1', 'hello')).rejects.toMatchObject({ code: 'forbidden', retryable: false });
    expect(client.pendingMessages).toBe(0);
    expect(server.requests('message.send')).toHaveLength(1);
  });

  it('keeps messages sent before connecting and rejects beyond the outbox limit with busy', async () => {
    const client = createClient(server, { outboxLimit: 2 });
    const first = client.send('c1', 'one');
    const second = client.send('c1', 'two');

    await expect(client.send('c1', 'three')).rejects.toMatchObject({ code: 'busy' });
    expect(client.pendingMessages).toBe(2);
    await client.connect();

    expect((await first).seq).toBe(1);
    expect((await second).seq).toBe(2);
    expect(server.log('c1').map((event) => event.data)).toEqual([
      { content: { type: 'text', text: 'one' } },
      { content: { type: 'text', text: 'two' } },
    ]);
  });
});
