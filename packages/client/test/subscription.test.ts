import type { Signal } from '@parley/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidDataError, isKnownEvent, ParleyClientError, toolResultError, type ConversationEvent, type ParleyEvent, type ParleySignal } from '../src/index.js';
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

describe('typed events', () => {
  it('delivers events typed by the catalogue; an unknown type passes with its seq; a known type with invalid data is reported, not delivered', async () => {
    const client = await connected();
    const subscription = client.subscribe('c1');
    const events = record<ParleyEvent>((listener) => subscription.on('event', listener));
    const errors = record<Error>((listener) => subscription.on('error', listener));
    const clientErrors = record<Error>((listener) => client.on('error', listener));
    await subscription.ready;

    server.append('c1', 'hello');
    server.appendEvent('c1', { type: 'support.note', data: { text: 'VIP customer' }, actor: { kind: 'agent', id: 'dana' } });
    const broken = server.appendEvent('c1', { type: 'message.created', data: { content: { type: 'text' } } });
    server.append('c1', 'still here');
    await waitFor(() => events.length === 3, 'three events');

    expect(events.map((event) => [event.seq, event.type, summary(event)])).toEqual([
      [1, 'message.created', 'alice: hello'],
      [2, 'support.note', 'support.note (not known to this SDK)'],
      [4, 'message.created', 'alice: still here'],
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(InvalidDataError);
    expect((errors[0] as InvalidDataError).item).toEqual(broken);
    expect(clientErrors).toEqual(errors);
    // The invalid event's seq counts as delivered: no gap to fill.
    expect(subscription.lastSeq).toBe(4);
    expect(server.requests('history')).toEqual([]);
  });

  it('types history pages the same way', async () => {
    const client = await connected();
    const errors = record<Error>((listener) => client.on('error', listener));
    server.append('c1', 'one', { push: false });
    server.appendEvent('c1', { type: 'receipt.read', data: { userId: 'alice', seq: 'one' } }, { push: false });
    server.appendEvent('c1', { type: 'reaction.added', data: { emoji: '+1' } }, { push: false });

    const page = await client.history('c1', { after: 0 });

    expect(page.events.map((event) => event.seq)).toEqual([1, 3]);
    expect(page.hasMore).toBe(false);
    expect(errors.map((error) => error.message)).toEqual([expect.stringMatching(/^event 2 \(receipt\.read\) of c1 has invalid data: seq/)]);
  });

  it('passes an unknown signal type through and reports a known one with invalid data', async () => {
    const client = await connected();
    const subscription = client.subscribe('c1');
    const signals = record<ParleySignal>((listener) => subscription.on('signal', listener));
    const errors = record<Error>((listener) => client.on('error', listener));
    await subscription.ready;
    const base = { tenant: 'acme', conversation: 'c1', ts: 1, actor: { kind: 'user' as const, id: 'bob' } };

    server.current.send({ push: 'signal', signal: { ...base, type: 'reaction.typing', data: { emoji: '+1' } } });
    server.current.send({ push: 'signal', signal: { ...base, type: 'typing', data: { active: 'yes' } } });
    server.current.send({ push: 'signal', signal: { ...base, type: 'notification', data: { title: 'New reply', badge: 2 } } });
    await waitFor(() => signals.length === 2, 'two signals');

    expect(signals.map((signal) => signal.type)).toEqual(['reaction.typing', 'notification']);
    expect(errors.map((error) => error.message)).toEqual([expect.stringMatching(/^signal typing of c1 has invalid data: active/)]);
  });
});

/** Compiles only if `switch (event.type)` narrows `data`: the SDK's events are the catalogue's union. */
function summary(event: ParleyEvent): string {
  switch (event.type) {
    case 'message.created':
      return `${event.actor.id}: ${event.data.content.text ?? `[${event.data.content.type}]`}`;
    case 'ai.tool_result':
      return toolResultError(event.data) ? 'tool failed' : 'tool answered';
    default:
      return isKnownEvent(event) ? event.type : `${event.type} (not known to this SDK)`;
  }
}
