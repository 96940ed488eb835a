import type { Signal } from '@parley/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ParleyClientError, type ConversationEvent } from '../src/index.js';
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

async function connected() {
  const client = createClient(server);
  await client.connect();
  return client;
}

describe('subscribe', () => {
  it('replays stored events after since, then live ones', async () => {
    server.append('c1', 'one');
    server.append('c1', 'two');
    const client = await connected();
    const clientEvents = record<ConversationEvent>((listener) => client.on('event', listener));
    const subscription = client.subscribe('c1', { since: 0 });
    const events = record<ConversationEvent>((listener) => subscription.on('event', listener));

    await expect(subscription.ready).resolves.toEqual({ conversationId: 'c1', headSeq: 2 });
    server.append('c1', 'three');
    await waitFor(() => events.length === 3, 'three events');

    expect(events.map((event) => event.seq)).toEqual([1, 2, 3]);
    expect(clientEvents).toEqual(events);
    expect(server.requests('subscribe')[0]?.args).toEqual({ conversationId: 'c1', since: 0 });
  });

  it('starts at the head without since', async () => {
    server.append('c1', 'old');
    const client = await connected();
    const subscription = client.subscribe('c1');
    expect(subscription.lastSeq).toBeUndefined();

    await subscription.ready;

    expect(subscription.lastSeq).toBe(1);
  });

  it('drops duplicate events', async () => {
    const client = await connected();
    const subscription = client.subscribe('c1');
    const events = record<ConversationEvent>((listener) => subscription.on('event', listener));
    await subscription.ready;
    const one = server.append('c1', 'one', { push: false });
    const two = server.append('c1', 'two', { push: false });

    for (const event of [one, one, two, one, two]) server.current.send({ push: 'event', event });
    await client.ping(); // replies come after the pushes sent before them

    expect(events.map((event) => event.seq)).toEqual([1, 2]);
  });

  it('fills a gap from history before delivering later events', async () => {
    const client = await connected();
    const subscription = client.subscribe('c1');
    const events = record<ConversationEvent>((listener) => subscription.on('event', listener));
    await subscription.ready;
    const stored = ['one', 'two', 'three', 'four', 'five'].map((text) => server.append('c1', text, { push: false }));

    server.current.send({ push: 'event', event: stored[0] });
    server.current.send({ push: 'event', event: stored[4] });
    await waitFor(() => events.length === 5, 'all five events');

    expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(server.requests('history').map((request) => request.args)).toEqual([{ conversationId: 'c1', after: 1, limit: 3 }]);
  });

  it('delivers signals to the subscription and the client', async () => {
    const client = await connected();
    const clientSignals = record<Signal>((listener) => client.on('signal', listener));
    const subscription = client.subscribe('c1');
    const signals = record<Signal>((listener) => subscription.on('signal', listener));
    await subscription.ready;
    const signal: Signal = { tenant: 'acme', conversation: 'c1', type: 'typing', ts: 1, actor: { kind: 'user', id: 'bob' }, data: { active: true } };

    server.current.send({ push: 'signal', signal });
    await waitFor(() => clientSignals.length === 1, 'the signal');

    expect(signals).toEqual([signal]);
  });

  it('iterates over events until unsubscribed', async () => {
    ['one', 'two', 'three'].forEach((text) => server.append('c1', text));
    const client = await connected();
    const subscription = client.subscribe('c1', { since: 0 });
    const seen: number[] = [];

    for await (const event of subscription) {
      seen.push(event.seq);
      if (seen.length === 3) await subscription.unsubscribe();
    }

    expect(seen).toEqual([1, 2, 3]);
    expect(subscription.status).toBe('ended');
    expect(server.requests('unsubscribe')).toHaveLength(1);
  });

  it('fails an iterator whose consumer falls too far behind, after its buffered events', async () => {
    const client = await connected();
    const subscription = client.subscribe('c1', { bufferSize: 2 });
    const iterator = subscription[Symbol.asyncIterator]();
    await subscription.ready;

    ['one', 'two', 'three'].forEach((text) => server.append('c1', text));
    await waitFor(() => subscription.lastSeq === 3, 'the events');

    expect((await iterator.next()).value?.seq).toBe(1);
    expect((await iterator.next()).value?.seq).toBe(2);
    await expect(iterator.next()).rejects.toMatchObject({ code: 'busy' });
    expect(subscription.status).toBe('active');
  });

  it('ends with the error when the server refuses the subscription', async () => {
    const client = await connected();
    server.intercept = (request, connection) => {
      if (request.op !== 'subscribe') return false;
      connection.fail(request.id, 'forbidden', 'not a member');
      return true;
    };
    const subscription = client.subscribe('c1');
    const iterator = subscription[Symbol.asyncIterator]();

    await expect(subscription.ready).rejects.toMatchObject({ code: 'forbidden' });
    await expect(iterator.next()).rejects.toBeInstanceOf(ParleyClientError);
    expect(subscription.status).toBe('ended');
    expect(() => client.subscribe('c1')).not.toThrow();
  });

  it('refuses a second subscription to the same conversation', async () => {
    const client = await connected();
    client.subscribe('c1');

    expect(() => client.subscribe('c1')).toThrow(expect.objectContaining({ code: 'conflict' }));
  });
});
