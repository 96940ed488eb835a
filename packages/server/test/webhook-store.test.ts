import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationEvent } from '@parley/protocol';
import type { WebhookClaim } from '../src/core/ports.js';
import type { PostgresStore } from '../src/store/postgres/store.js';
import type { PostgresWebhookStore } from '../src/store/postgres/webhook-store.js';
import { STORE_FACTORIES } from './store-factories.js';

const factories = STORE_FACTORIES;

describe.each(factories)('WebhookStore conformance: $name', (factory) => {
  let store: PostgresStore;
  let webhooks: PostgresWebhookStore;
  let cleanup: () => Promise<void>;
  let counter = 0;
  const unique = (prefix: string) => `${prefix}${++counter}`;
  const T0 = 1_000_000;

  beforeAll(async () => {
    ({ store, cleanup } = await factory.open());
    await store.migrate();
    webhooks = store.webhooks;
  });
  afterAll(() => cleanup());

  const endpoint = async (tenant = 'acme', types = ['*'], limit = 50) => {
    const created = await webhooks.createEndpoint({ id: unique('we_'), tenant, url: 'https://hooks.example/in', types, description: 'test', secret: 'whsec_c2VjcmV0', createdAt: T0 }, limit);
    return created!;
  };
  /** A conversation with `count` message events after its conversation.created (seq 1). */
  const conversation = async (count: number, tenant = 'acme'): Promise<ConversationEvent[]> => {
    const key = { tenant, conversationId: unique('c') };
    const { event } = await store.createConversation({ key, createdBy: 'alice', members: [], metadata: {}, assistant: null });
    const events = [event!];
    for (let index = 0; index < count; index++) {
      events.push((await store.append({ key, type: 'message.created', actor: { kind: 'user', id: 'alice' }, data: { content: { type: 'text', text: `m${index}` } } })).event);
    }
    return events;
  };
  const enqueue = (endpointId: string, events: ConversationEvent[], now = T0) =>
    webhooks.enqueue(events[0]!.tenant, events[0]!.conversation, events.map((event) => ({ id: unique('wd_'), endpointId, event })), now);
  const claim = (owner: string, now = T0 + 1, extra: Partial<WebhookClaim> = {}) =>
    webhooks.claim({ owner, now, leaseUntil: now + 1000, limit: 100, perEndpoint: 100, busy: new Map(), ...extra });
  type Claimed = { delivery: { id: string; attempts: number; endpointId: string; conversationId: string } };
  const lane = (claimed: Claimed) => ({ deliveryId: claimed.delivery.id, endpointId: claimed.delivery.endpointId, conversationId: claimed.delivery.conversationId });
  const finish = (claimed: Claimed, owner: string, next: { status: 'delivered' } | { status: 'failed' } | { status: 'pending'; at: number }, now = T0 + 2) =>
    webhooks.finishAttempt({ ...lane(claimed), owner, attempt: claimed.delivery.attempts, now, next, statusCode: 200, response: 'ok', error: null, runGapMs: 10_000 });
  /** Claims everything due and finishes it as delivered, so later tests start from an empty queue. */
  const drain = async (now: number) => {
    for (let claimed = await claim('drain', now); claimed.length > 0; claimed = await claim('drain', now)) {
      for (const each of claimed) await finish(each, 'drain', { status: 'delivered' }, now);
    }
  };

  it('creates, lists, updates and deletes endpoints within their tenant only', async () => {
    const tenant = unique('t');
    const first = await endpoint(tenant, ['message.created', 'ai.*']);
    expect(first).toMatchObject({ tenant, types: ['message.created', 'ai.*'], enabled: true, disabledReason: null, failingSince: null, createdAt: T0 });
    expect(first).not.toHaveProperty('secret');
    await endpoint(tenant);
    expect((await webhooks.listEndpoints(tenant)).map((each) => each.id)).toHaveLength(2);
    expect(await webhooks.getEndpoint('other', first.id)).toBeNull();
    expect(await webhooks.updateEndpoint('other', first.id, { url: 'https://evil.example' }, T0)).toBeNull();
    expect(await webhooks.rotateSecret('other', first.id, 'whsec_eA==', T0, T0)).toBe(false);
    expect(await webhooks.deleteEndpoint('other', first.id)).toBe(false);
    const updated = await webhooks.updateEndpoint(tenant, first.id, { url: 'https://hooks.example/v2', types: ['*'] }, T0 + 5);
    expect(updated).toMatchObject({ url: 'https://hooks.example/v2', types: ['*'], description: 'test', enabled: true, updatedAt: T0 + 5 });
    expect(await webhooks.deleteEndpoint(tenant, first.id)).toBe(true);
    expect(await webhooks.getEndpoint(tenant, first.id)).toBeNull();
  });

  it('refuses an endpoint beyond the limit of its tenant', async () => {
    const tenant = unique('t');
    await endpoint(tenant, ['*'], 2);
    await endpoint(tenant, ['*'], 2);
    expect(await webhooks.createEndpoint({ id: unique('we_'), tenant, url: 'https://x.example', types: ['*'], description: '', secret: 'whsec_eA==', createdAt: T0 }, 2)).toBeNull();
  });

  it('enqueues each event once per endpoint, for enabled endpoints of the tenant only', async () => {
    const tenant = unique('t');
    const enabled = await endpoint(tenant);
    const disabled = await endpoint(tenant);
    const foreign = await endpoint('someone-else');
    await webhooks.updateEndpoint(tenant, disabled.id, { enabled: false }, T0);
    const events = await conversation(2, tenant);
    expect(await enqueue(enabled.id, events)).toBe(3);
    expect(await enqueue(enabled.id, events)).toBe(0);
    expect(await enqueue(disabled.id, events)).toBe(0);
    expect(await enqueue(foreign.id, events)).toBe(0);
    const log = await webhooks.listDeliveries(tenant, enabled.id, { limit: 10 });
    expect(log.map((delivery) => [delivery.seq, delivery.status, delivery.attempts])).toEqual(expect.arrayContaining([[1, 'pending', 0], [2, 'pending', 0], [3, 'pending', 0]]));
    await drain(T0 + 1);
  });

  it('claims only the lowest pending seq of each (endpoint, conversation), with its event, leased to one worker', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    const one = await conversation(2, tenant);
    const two = await conversation(1, tenant);
    await enqueue(hook.id, one);
    await enqueue(hook.id, two);
    const claimed = await claim('a');
    expect(claimed.map((each) => [each.event.conversation, each.event.seq]).sort()).toEqual([[one[0]!.conversation, 1], [two[0]!.conversation, 1]].sort());
    const first = claimed.find((each) => each.event.conversation === one[0]!.conversation)!;
    expect(first.event).toEqual(one[0]);
    expect(first).toMatchObject({ url: 'https://hooks.example/in', secrets: ['whsec_c2VjcmV0'], windowStart: T0, delivery: { attempts: 1, status: 'pending' } });
    // Leased: nobody else gets them, and the next seqs wait behind them.
    expect(await claim('b')).toEqual([]);
    expect((await finish(first, 'a', { status: 'delivered' })).recorded).toBe(true);
    const next = await claim('b', T0 + 3);
    expect(next.map((each) => each.event.seq)).toEqual([2]);
    // Its retry window starts with its turn, not when it was enqueued.
    expect(next[0]).toMatchObject({ windowStart: T0 + 2, firstFailedAt: null });
    // A failed delivery lets the next one go.
    await finish(next[0]!, 'b', { status: 'failed' }, T0 + 3);
    expect((await claim('b', T0 + 4)).map((each) => each.event.seq)).toEqual([3]);
    await drain(T0 + 2000);
  });

  it('waits for a retry until it is due, keeping the conversation behind it', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    const events = await conversation(1, tenant);
    await enqueue(hook.id, events);
    const [first] = await claim('a');
    const recorded = await webhooks.finishAttempt({ ...lane(first!), owner: 'a', attempt: 1, now: T0 + 2, next: { status: 'pending', at: T0 + 500 }, statusCode: 500, response: 'oops', error: 'HTTP 500', runGapMs: 10_000 });
    expect(recorded).toEqual({ recorded: true, failingSince: T0 + 2 });
    expect(await claim('a', T0 + 499)).toEqual([]);
    const [retry] = await claim('a', T0 + 500);
    expect(retry).toMatchObject({ firstFailedAt: T0 + 2, delivery: { id: first!.delivery.id, attempts: 2, lastStatusCode: 500, lastResponse: 'oops', lastError: 'HTTP 500' } });
    // A success ends the endpoint's failing run.
    expect(await finish(retry!, 'a', { status: 'delivered' }, T0 + 501)).toEqual({ recorded: true, failingSince: null });
    expect((await webhooks.getEndpoint(tenant, hook.id))!.failingSince).toBeNull();
    expect(await webhooks.getDelivery(tenant, first!.delivery.id)).toMatchObject({ status: 'delivered', deliveredAt: T0 + 501, nextAttemptAt: null, attempts: 2 });
    await drain(T0 + 2000);
  });

  it('keeps a failing run while failures follow each other, and begins a new one after a pause', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    const events = await conversation(0, tenant);
    await enqueue(hook.id, events);
    const fail = async (now: number) => {
      const [claimed] = await claim('a', now);
      return webhooks.finishAttempt({ ...lane(claimed!), owner: 'a', attempt: claimed!.delivery.attempts, now, next: { status: 'pending', at: now }, statusCode: 503, response: null, error: 'HTTP 503', runGapMs: 100 });
    };
    expect((await fail(T0 + 10)).failingSince).toBe(T0 + 10);
    expect((await fail(T0 + 100)).failingSince).toBe(T0 + 10);
    expect((await fail(T0 + 200)).failingSince).toBe(T0 + 10);
    expect((await fail(T0 + 301)).failingSince).toBe(T0 + 301);
    await drain(T0 + 5000);
  });

  it('never leaves a delivery waiting behind one that finished while it was enqueued', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    const events = await conversation(20, tenant);
    await enqueue(hook.id, [events[0]!]);
    for (let index = 1; index < events.length; index++) {
      const [head] = await claim('a', T0 + index);
      expect(head!.event.seq).toBe(index);
      await Promise.all([enqueue(hook.id, [events[index]!], T0 + index), finish(head!, 'a', { status: 'delivered' }, T0 + index)]);
    }
    const [last] = await claim('a', T0 + 100);
    expect(last!.event.seq).toBe(21);
    await drain(T0 + 5000);
  });

  it('sends a redelivered older event before the newer one waiting in its conversation', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    const events = await conversation(1, tenant);
    await enqueue(hook.id, [events[0]!]);
    const [first] = await claim('a', T0 + 1);
    await finish(first!, 'a', { status: 'delivered' }, T0 + 2);
    await enqueue(hook.id, [events[1]!], T0 + 3);
    await webhooks.redeliver(tenant, first!.delivery.id, T0 + 4);
    const newer = (await webhooks.listDeliveries(tenant, hook.id, { limit: 10 })).find((delivery) => delivery.seq === 2)!;
    expect(newer).toMatchObject({ status: 'pending', nextAttemptAt: null });
    const [again] = await claim('a', T0 + 5);
    expect(again!.event.seq).toBe(1);
    expect(await claim('a', T0 + 5)).toEqual([]);
    await finish(again!, 'a', { status: 'delivered' }, T0 + 6);
    expect((await claim('a', T0 + 7)).map((each) => each.event.seq)).toEqual([2]);
    await drain(T0 + 5000);
  });

  it('lets another worker take over an expired lease, and ignores the first worker afterwards', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    await enqueue(hook.id, (await conversation(0, tenant)));
    const [taken] = await claim('dead', T0 + 1);
    expect(await claim('alive', T0 + 1000)).toEqual([]);
    const [takenOver] = await claim('alive', T0 + 1001);
    expect(takenOver!.delivery).toMatchObject({ id: taken!.delivery.id, attempts: 2 });
    expect((await finish(taken!, 'dead', { status: 'failed' }, T0 + 1002)).recorded).toBe(false);
    expect((await finish(takenOver!, 'alive', { status: 'delivered' }, T0 + 1002)).recorded).toBe(true);
    expect((await webhooks.getDelivery(tenant, taken!.delivery.id))!.status).toBe('delivered');
  });

  it('keeps to the per-endpoint limit, counting what the worker has in flight', async () => {
    const tenant = unique('t');
    const busy = await endpoint(tenant);
    const other = await endpoint(tenant);
    for (let index = 0; index < 5; index++) {
      const events = await conversation(0, tenant);
      await enqueue(busy.id, events);
      await enqueue(other.id, events);
    }
    const claimed = await claim('a', T0 + 1, { perEndpoint: 3, busy: new Map([[busy.id, 2]]) });
    const byEndpoint = (id: string) => claimed.filter((each) => each.delivery.endpointId === id).length;
    expect([byEndpoint(busy.id), byEndpoint(other.id)]).toEqual([1, 3]);
    expect((await claim('a', T0 + 1, { limit: 2 })).length).toBe(2);
    await drain(T0 + 5000);
  });

  it('hands each delivery to one of several workers claiming at once', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    for (let index = 0; index < 40; index++) await enqueue(hook.id, await conversation(0, tenant));
    const claims = await Promise.all(['a', 'b', 'c', 'd'].map((owner) => claim(owner, T0 + 1, { limit: 15 })));
    const ids = claims.flat().map((each) => each.delivery.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(40);
    await drain(T0 + 5000);
  });

  it('disables an endpoint: its pending deliveries are skipped and nothing more is claimed or enqueued', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    const events = await conversation(2, tenant);
    await enqueue(hook.id, events);
    expect(await webhooks.disableEndpoint(hook.id, 'failing for 24 h', T0 + 10)).toBe(true);
    expect(await webhooks.disableEndpoint(hook.id, 'again', T0 + 11)).toBe(false);
    expect(await webhooks.getEndpoint(tenant, hook.id)).toMatchObject({ enabled: false, disabledReason: 'failing for 24 h' });
    expect(await claim('a', T0 + 11)).toEqual([]);
    const log = await webhooks.listDeliveries(tenant, hook.id, { limit: 10 });
    expect(log.map((delivery) => [delivery.status, delivery.lastError])).toEqual(Array(3).fill(['skipped', 'failing for 24 h']));
    // Enabled again: a clean state, and new events flow; a skipped one is redelivered by id.
    const enabled = await webhooks.updateEndpoint(tenant, hook.id, { enabled: true }, T0 + 20);
    expect(enabled).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
    const redelivered = await webhooks.redeliver(tenant, log[0]!.id, T0 + 30);
    expect(redelivered).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: T0 + 30 });
    expect((await claim('a', T0 + 31)).map((each) => each.delivery.id)).toEqual([log[0]!.id]);
    await drain(T0 + 5000);
  });

  it('records the attempts in flight when their endpoint is disabled: delivered, or else skipped', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    const [one, two] = [await conversation(0, tenant), await conversation(0, tenant)];
    await enqueue(hook.id, one);
    await enqueue(hook.id, two);
    const claimed = await claim('a', T0 + 1);
    expect(claimed).toHaveLength(2);
    await webhooks.disableEndpoint(hook.id, 'disabled', T0 + 2);
    const [succeeded, failed] = claimed;
    expect((await finish(succeeded!, 'a', { status: 'delivered' }, T0 + 3)).recorded).toBe(true);
    expect((await finish(failed!, 'a', { status: 'pending', at: T0 + 10 }, T0 + 3)).recorded).toBe(true);
    expect(await webhooks.getDelivery(tenant, succeeded!.delivery.id)).toMatchObject({ status: 'delivered', deliveredAt: T0 + 3 });
    expect(await webhooks.getDelivery(tenant, failed!.delivery.id)).toMatchObject({ status: 'skipped', nextAttemptAt: null, lastStatusCode: 200 });
    expect((await webhooks.pendingStats()).pending).toBe(0);
  });

  it('redelivers by id within the tenant, not while an attempt is in flight', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    await enqueue(hook.id, await conversation(0, tenant));
    const [claimed] = await claim('a', T0 + 1);
    expect(await webhooks.redeliver(tenant, claimed!.delivery.id, T0 + 2)).toMatchObject({ status: 'pending', attempts: 1 });
    await finish(claimed!, 'a', { status: 'failed' }, T0 + 3);
    expect(await webhooks.redeliver('other', claimed!.delivery.id, T0 + 4)).toBeNull();
    expect(await webhooks.redeliver(tenant, 'wd_missing', T0 + 4)).toBeNull();
    expect(await webhooks.redeliver(tenant, claimed!.delivery.id, T0 + 4)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: T0 + 4 });
    const [again] = await claim('b', T0 + 5);
    expect(again).toMatchObject({ windowStart: T0 + 4, firstFailedAt: null, delivery: { attempts: 1 } });
    await drain(T0 + 5000);
  });

  it('pages the delivery log newest first, by status, and keeps it within the tenant', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    for (let index = 0; index < 5; index++) await enqueue(hook.id, await conversation(0, tenant), T0 + index);
    const [claimed] = await claim('a', T0 + 10, { limit: 1 });
    await finish(claimed!, 'a', { status: 'failed' }, T0 + 11);
    const first = await webhooks.listDeliveries(tenant, hook.id, { limit: 2 });
    const last = first.at(-1)!;
    const second = await webhooks.listDeliveries(tenant, hook.id, { limit: 10, before: { createdAt: last.createdAt, seq: last.seq, id: last.id } });
    expect([...first, ...second].map((delivery) => delivery.createdAt)).toEqual([T0 + 4, T0 + 3, T0 + 2, T0 + 1, T0]);
    expect((await webhooks.listDeliveries(tenant, hook.id, { limit: 10, status: 'failed' })).map((delivery) => delivery.id)).toEqual([claimed!.delivery.id]);
    expect(await webhooks.listDeliveries('other', hook.id, { limit: 10 })).toEqual([]);
    expect(await webhooks.getDelivery('other', claimed!.delivery.id)).toBeNull();
    await drain(T0 + 5000);
  });

  it('signs with the previous secret too while a rotation overlaps', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    expect(await webhooks.rotateSecret(tenant, hook.id, 'whsec_bmV3', T0 + 100, T0)).toBe(true);
    await enqueue(hook.id, await conversation(0, tenant));
    const [during] = await claim('a', T0 + 1);
    expect(during!.secrets).toEqual(['whsec_bmV3', 'whsec_c2VjcmV0']);
    await finish(during!, 'a', { status: 'failed' }, T0 + 1);
    await webhooks.redeliver(tenant, during!.delivery.id, T0 + 1);
    const [after] = await claim('a', T0 + 100);
    expect(after!.secrets).toEqual(['whsec_bmV3']);
    await drain(T0 + 5000);
  });

  it('reports pending deliveries and prunes finished ones', async () => {
    const tenant = unique('t');
    const hook = await endpoint(tenant);
    await enqueue(hook.id, await conversation(1, tenant), T0 + 7);
    const stats = await webhooks.pendingStats();
    expect(stats.pending).toBe(2);
    expect(stats.oldestCreatedAt).toBe(T0 + 7);
    await drain(T0 + 8);
    expect(await webhooks.pendingStats()).toEqual({ pending: 0, oldestCreatedAt: null });
    const pruned = await webhooks.pruneDeliveries(T0 + 100_000, 10_000);
    expect(pruned).toBeGreaterThan(0);
    expect(await webhooks.listDeliveries(tenant, hook.id, { limit: 10 })).toEqual([]);
  });
});
