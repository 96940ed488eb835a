import { CLOSE_CODES, type OperationArgs } from '@parley/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClientState, ConversationEvent } from '../src/index.js';
import { FakeServer } from './helpers/fake-server.js';
import { closeClients, createClient, record, sleep, waitFor } from './helpers/util.js';

let server: FakeServer;

beforeEach(async () => {
  server = await FakeServer.start();
});

afterEach(async () => {
  closeClients();
  await server.close();
});

describe('outbox across reconnects', () => {
  it('re-sends an unacknowledged message with the same clientMsgId after the socket dies, storing it once', async () => {
    const client = createClient(server);
    const states = record<ClientState>((listener) => client.on('state', listener));
    await client.connect();
    let killed = false;
    server.intercept = (request, connection) => {
      if (request.op !== 'message.send' || killed) return false;
      killed = true;
      // Stored, but the connection dies before the ack leaves.
      server.storeMessage(request.args as OperationArgs<'message.send'>);
      connection.terminate();
      return true;
    };

    const ack = await client.send('c1', 'hello');

    const sends = server.requests('message.send');
    expect(sends).toHaveLength(2);
    expect(sends[1]?.args.clientMsgId).toBe(sends[0]?.args.clientMsgId);
    expect(sends[1]?.connection).not.toBe(sends[0]?.connection);
    expect(ack).toMatchObject({ seq: 1, duplicate: true });
    expect(server.log('c1')).toHaveLength(1);
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  });

  it('re-sends a message the server never saw, after re-subscribing', async () => {
    const client = createClient(server);
    await client.connect();
    const subscription = client.subscribe('c1');
    await subscription.ready;
    let dropped = false;
    server.intercept = (request, connection) => {
      if (request.op !== 'message.send' || dropped) return false;
      dropped = true;
      connection.terminate();
      return true;
    };

    const ack = await client.send('c1', 'hello');

    expect(ack).toMatchObject({ seq: 1, duplicate: false });
    expect(server.log('c1')).toHaveLength(1);
    const second = server.received.filter((request) => request.connection === 1).map((request) => request.op);
    expect(second).toEqual(['connect', 'subscribe', 'message.send']);
  });
});

describe('resume', () => {
  it('re-subscribes with since = lastSeq and gets the missed events once, in order', async () => {
    const client = createClient(server);
    await client.connect();
    const subscription = client.subscribe('c1');
    const events = record<ConversationEvent>((listener) => subscription.on('event', listener));
    await subscription.ready;
    server.append('c1', 'one');
    server.append('c1', 'two');
    await waitFor(() => events.length === 2, 'the live events');

    // Stored while the client is not told, as if it were away; then the connection dies.
    server.append('c1', 'three', { push: false });
    server.append('c1', 'four', { push: false });
    server.current.terminate();
    await waitFor(() => events.length === 4, 'the replayed events');
    server.append('c1', 'five');
    await waitFor(() => events.length === 5, 'a live event after the resume');

    expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(server.requests('subscribe').map((request) => request.args.since)).toEqual([undefined, 2]);
    expect(subscription.lastSeq).toBe(5);
    expect(subscription.status).toBe('active');
  });
});

describe('tokens', () => {
  it('fetches a fresh token and reconnects when the server closes with 4003', async () => {
    let calls = 0;
    const client = createClient(server, { token: async () => `token-${++calls}` });
    await client.connect();

    server.current.closeWith(4003, 'token expired');
    await waitFor(() => server.requests('connect').length === 2 && client.state === 'connected', 'the reconnect');

    expect(server.requests('connect').map((request) => request.args.token)).toEqual(['token-1', 'token-2']);
    expect(calls).toBe(2);
  });

  it('stops on 4003 when the token is a fixed string', async () => {
    const client = createClient(server, { token: 'fixed' });
    const errors = record<Error>((listener) => client.on('error', listener));
    await client.connect();

    server.current.closeWith(4003, 'token expired');
    await waitFor(() => client.state === 'closed', 'the client to close');

    expect(errors.at(-1)).toMatchObject({ code: 'unauthorized', closeCode: 4003 });
    expect(server.requests('connect')).toHaveLength(1);
  });

  it('refreshes the token on the open connection at about 80% of its lifetime', async () => {
    server.tokenLifetimeMs = 1_500;
    let calls = 0;
    const client = createClient(server, { token: () => `token-${++calls}` });
    const connectedAt = Date.now();
    await client.connect();

    await waitFor(() => server.requests('token.refresh').length === 1, 'the refresh');

    // Timers never fire early: the refresh cannot come before 80% of the 1500 ms (allowing clock rounding).
    expect(Date.now() - connectedAt).toBeGreaterThanOrEqual(1_100);
    expect(server.requests('token.refresh')[0]?.args).toEqual({ token: 'token-2' });
    expect(server.requests('connect')).toHaveLength(1);
    expect(client.state).toBe('connected');
  });
});

describe('close codes', () => {
  it('does not reconnect after 4500, and fails what waits', async () => {
    const client = createClient(server);
    const errors = record<Error>((listener) => client.on('error', listener));
    await client.connect();
    const subscription = client.subscribe('c1');
    await subscription.ready;

    server.current.closeWith(4500, 'unauthorized');
    await waitFor(() => client.state === 'closed', 'the client to close');
    await sleep(100); // many times the 5-20 ms reconnect delay

    expect(server.requests('connect')).toHaveLength(1);
    expect(errors.at(-1)).toMatchObject({ code: 'unauthorized', closeCode: 4500 });
    expect(subscription.status).toBe('ended');
    await expect(client.ping()).rejects.toMatchObject({ code: 'closed' });
  });

  it('reconnects after a 4000 close', async () => {
    const client = createClient(server);
    await client.connect();

    server.current.closeWith(4000, 'server restarting');
    await waitFor(() => server.requests('connect').length === 2 && client.state === 'connected', 'the reconnect');
  });

  it('rejects connect() when the server refuses the token', async () => {
    server.rejectedTokens.add('token-1');
    const client = createClient(server);

    await expect(client.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(client.state).toBe('closed');
  });

  it('keeps trying to connect while connection attempts fail', async () => {
    let refused = 0;
    server.intercept = (request, connection) => {
      if (request.op !== 'connect' || refused >= 2) return false;
      refused += 1;
      connection.terminate();
      return true;
    };
    const client = createClient(server);

    await client.connect();

    expect(server.requests('connect')).toHaveLength(3);
  });

  it('drops a connection that stops answering pings, and reconnects', async () => {
    server.pingIntervalMs = 50;
    server.intercept = (request) => request.op === 'ping' && request.connection === 0;
    const client = createClient(server, { requestTimeoutMs: 200 });
    await client.connect();

    await waitFor(() => server.requests('connect').length === 2 && client.state === 'connected', 'the reconnect');

    expect(server.requests('ping').some((request) => request.connection === 0)).toBe(true);
    // Not a normal close (1000): the server keeps the user's presence for its grace, as for a lost connection.
    expect(server.connections[0]!.closeCode).toBe(CLOSE_CODES.heartbeatTimeout);
  });
});
