import { verifyWebhook } from '@parley/client/webhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../../test/support/eventually.js';
import { WebhookReceiver, type ReceivedWebhook } from '../../../../test/support/webhook-receiver.js';
import type { ConversationKey } from '../../src/core/types.js';
import { OutboundHttp } from '../../src/net/outbound-http.js';
import { OutboundPolicy } from '../../src/net/outbound-policy.js';
import { WebhookHarness } from './harness.js';

describe('webhook delivery against a local receiver', () => {
  let harness: WebhookHarness;
  let receiver: WebhookReceiver;
  let tenantCounter = 0;
  let tenant: string;

  beforeAll(async () => {
    harness = await WebhookHarness.open();
    receiver = await WebhookReceiver.start();
  });
  afterEach(async () => {
    await Promise.all(harness.workers.splice(0).map((worker) => worker.stop()));
    for (const endpoint of await harness.service.listEndpoints(tenant)) await harness.service.deleteEndpoint(tenant, endpoint.id);
    receiver.decide = () => 200;
    receiver.bodyOf = (status) => (status < 300 ? 'thanks' : `refused with ${status}`);
  });
  afterAll(async () => {
    await harness.close();
    await receiver.close();
  });
  const newTenant = () => (tenant = `t${++tenantCounter}`);
  const attemptsOf = (id: string) => receiver.received.filter((entry) => entry.id === id);
  const seqsOf = (entries: ReceivedWebhook[], conversation: string) => entries.filter((entry) => entry.payload.data.conversation === conversation).map((entry) => entry.payload.data.seq);

  it('delivers every event once, signed, in order, after failed attempts (500, then a timeout)', async () => {
    newTenant();
    const { endpoint, secret } = await harness.service.createEndpoint(tenant, { url: receiver.url('/flaky'), types: ['message.created'] });
    const tries = new Map<string, number>();
    receiver.decide = (entry) => {
      const attempt = (tries.get(entry.id) ?? 0) + 1;
      tries.set(entry.id, attempt);
      return attempt === 1 ? 500 : attempt === 2 ? 'hang' : 200;
    };
    const outcomes: string[] = [];
    await harness.startWorker({ observer: { attempted: (outcome) => outcomes.push(outcome) } });
    const key = await harness.conversation(tenant);
    const events = await harness.messages(key, ['one', 'two', 'three', 'four']);
    await harness.react(key);
    await harness.react(key); // at least once: the same events again change nothing

    await eventually(() => expect(receiver.accepted().filter((entry) => entry.payload.data.conversation === key.conversationId)).toHaveLength(4));
    const accepted = receiver.accepted().filter((entry) => entry.payload.data.conversation === key.conversationId);
    expect(accepted.map((entry) => entry.id)).toEqual(events.map((event) => event.id));
    for (const event of events) {
      const attempts = attemptsOf(event.id);
      expect(attempts.map((entry) => entry.answered)).toEqual([500, null, 200]);
      // Every attempt is signed (with its own timestamp) and verifies with the standardwebhooks package.
      for (const attempt of attempts) {
        expect(WebhookReceiver.verify(secret, attempt)).toEqual({ type: 'message.created', timestamp: new Date(event.ts).toISOString(), data: event });
        expect(verifyWebhook(secret, attempt.body, attempt.headers)).toEqual({ id: event.id, type: 'message.created', timestamp: new Date(event.ts).toISOString(), event });
      }
    }
    // In order: no attempt of an event before the previous event was accepted.
    const order = receiver.received.filter((entry) => entry.payload.data.conversation === key.conversationId).map((entry) => entry.payload.data.seq);
    expect(order).toEqual([2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]);
    // The last answer is recorded just after the receiver sent it.
    await eventually(async () => {
      const page = await harness.service.listDeliveries(tenant, endpoint.id, { limit: 10 });
      expect(page.deliveries.map((delivery) => [delivery.seq, delivery.status, delivery.attempts, delivery.lastStatusCode, delivery.lastResponse, delivery.lastError])).toEqual(
        [5, 4, 3, 2].map((seq) => [seq, 'delivered', 3, 200, 'thanks', null]),
      );
    });
    // What the metrics count: two retried attempts and one delivered per event.
    expect(outcomes.filter((outcome) => outcome === 'retrying')).toHaveLength(8);
    expect(outcomes.filter((outcome) => outcome === 'delivered')).toHaveLength(4);
  });

  it('refuses the receiver when the allow-list does not name it', async () => {
    newTenant();
    const guarded = new OutboundHttp(new OutboundPolicy());
    const { endpoint } = await harness.service.createEndpoint(tenant, { url: receiver.url('/private').replace('127.0.0.1', 'localhost'), types: ['message.created'] });
    await harness.startWorker({ outbound: guarded });
    const key = await harness.conversation(tenant);
    const before = receiver.received.length;
    await harness.messages(key, ['hello']);
    await harness.react(key);
    await eventually(async () => {
      const [delivery] = (await harness.service.listDeliveries(tenant, endpoint.id, { limit: 1 })).deliveries;
      expect(delivery).toMatchObject({ status: 'pending', lastStatusCode: null, lastError: expect.stringMatching(/loopback address/) });
      expect(delivery!.attempts).toBeGreaterThanOrEqual(1);
    });
    expect(receiver.received.length).toBe(before);
    guarded.close();
  });

  it('lets other conversations and other endpoints go on while one conversation fails and one endpoint hangs', async () => {
    newTenant();
    const { endpoint: fast } = await harness.service.createEndpoint(tenant, { url: receiver.url('/fast'), types: ['message.created'] });
    await harness.service.createEndpoint(tenant, { url: receiver.url('/slow'), types: ['message.created'] });
    const stuck = await harness.conversation(tenant);
    receiver.decide = (entry, path) => (path === '/slow' ? 'hang' : entry.payload.data.conversation === stuck.conversationId ? 503 : 200);
    await harness.startWorker({ concurrency: 8, perEndpoint: 2, timeoutMs: 1500 });
    await harness.messages(stuck, ['first', 'second']);
    await harness.react(stuck);
    const others: ConversationKey[] = [];
    for (let index = 0; index < 6; index++) {
      const key = await harness.conversation(tenant);
      await harness.messages(key, ['a', 'b']);
      await harness.react(key);
      others.push(key);
    }
    await eventually(() => expect(receiver.accepted().filter((entry) => others.some((key) => key.conversationId === entry.payload.data.conversation))).toHaveLength(12));
    for (const key of others) expect(seqsOf(receiver.accepted(), key.conversationId)).toEqual([2, 3]);
    // The failing conversation retried its first event and never sent its second; the slow endpoint held two slots at most.
    expect(new Set(seqsOf(receiver.received.filter((entry) => entry.answered === 503), stuck.conversationId))).toEqual(new Set([2]));
    expect(receiver.maxOpen.get('/slow')).toBeLessThanOrEqual(2);
    await eventually(async () => {
      const log = await harness.service.listDeliveries(tenant, fast.id, { limit: 100, status: 'pending' });
      expect(log.deliveries.map((delivery) => [delivery.conversationId, delivery.seq]).sort()).toEqual([[stuck.conversationId, 2], [stuck.conversationId, 3]]);
    });
  });

  it('marks a delivery failed when its retry window ends, lets the next go on, and redelivers it by id', async () => {
    newTenant();
    const { endpoint } = await harness.service.createEndpoint(tenant, { url: receiver.url('/poisoned'), types: ['message.created'] });
    const poisoned = await harness.conversation(tenant);
    const [bad, good] = await harness.messages(poisoned, ['bad', 'good']);
    let refuse = true;
    receiver.decide = (entry) => (refuse && entry.id === bad!.id ? 422 : 200);
    receiver.bodyOf = (status) => (status === 422 ? 'refused\u0000 with 422' : 'thanks');
    await harness.startWorker({ retryWindowMs: 3000 });
    await harness.react(poisoned);
    // Another conversation succeeds meanwhile: the endpoint is not failing as a whole, so it stays enabled.
    await eventually(() => expect(attemptsOf(bad!.id).length).toBeGreaterThanOrEqual(2));
    const healthy = await harness.conversation(tenant);
    await harness.messages(healthy, ['fine']);
    await harness.react(healthy);
    await eventually(() => expect(receiver.accepted().map((entry) => entry.id)).toContain(good!.id), 10_000);
    const failed = (await harness.service.listDeliveries(tenant, endpoint.id, { status: 'failed' })).deliveries;
    expect(failed).toEqual([expect.objectContaining({ eventId: bad!.id, status: 'failed', lastStatusCode: 422, lastError: 'HTTP 422', lastResponse: 'refused\uFFFD with 422' })]);
    expect(failed[0]!.attempts).toBeGreaterThanOrEqual(2);
    const goodAt = receiver.received.findIndex((entry) => entry.id === good!.id);
    expect(receiver.received.slice(goodAt).some((entry) => entry.id === bad!.id)).toBe(false);
    expect((await harness.service.getEndpoint(tenant, endpoint.id)).enabled).toBe(true);

    refuse = false;
    const redelivered = await harness.service.redeliver(tenant, failed[0]!.id);
    expect(redelivered).toMatchObject({ status: 'pending', attempts: 0 });
    await eventually(async () => expect(await harness.service.getDelivery(tenant, failed[0]!.id)).toMatchObject({ status: 'delivered', attempts: 1, lastStatusCode: 200 }));
    expect(receiver.accepted().filter((entry) => entry.id === bad!.id)).toHaveLength(1);
  });

  it('disables an endpoint that fails for the whole retry window and skips what is left', async () => {
    newTenant();
    const { endpoint } = await harness.service.createEndpoint(tenant, { url: receiver.url('/down'), types: ['*'] });
    receiver.decide = () => 500;
    const disabledEndpoints: string[] = [];
    await harness.startWorker({ retryWindowMs: 300, observer: { endpointDisabled: (id) => disabledEndpoints.push(id) } });
    const keys = [await harness.conversation(tenant), await harness.conversation(tenant)];
    for (const key of keys) {
      await harness.messages(key, ['x', 'y']);
      await harness.react(key);
    }
    await eventually(async () => expect((await harness.service.getEndpoint(tenant, endpoint.id)).enabled).toBe(false));
    const disabled = await harness.service.getEndpoint(tenant, endpoint.id);
    expect(disabledEndpoints).toEqual([endpoint.id]);
    expect(disabled.disabledReason).toMatch(/^every attempt failed since .* \(the retry window is 0 h\); last error: HTTP 500$/);
    await eventually(async () => {
      const { deliveries } = await harness.service.listDeliveries(tenant, endpoint.id, { limit: 100 });
      expect(deliveries).toHaveLength(6);
      expect(deliveries.filter((delivery) => delivery.status === 'pending')).toEqual([]);
      expect(deliveries.some((delivery) => delivery.status === 'failed')).toBe(true);
      // A skipped delivery shows why: the endpoint's reason, or the error of its attempt that was in flight then.
      for (const delivery of deliveries.filter((each) => each.status === 'skipped')) expect([disabled.disabledReason, 'HTTP 500']).toContain(delivery.lastError);
    });
    // Nothing new for a disabled endpoint, and no redelivery until it is enabled again.
    await harness.messages(keys[0]!, ['z']);
    await harness.react(keys[0]!);
    expect((await harness.service.listDeliveries(tenant, endpoint.id, { limit: 100 })).deliveries).toHaveLength(6);
    const [some] = (await harness.service.listDeliveries(tenant, endpoint.id, { limit: 1 })).deliveries;
    await expect(harness.service.redeliver(tenant, some!.id)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('delivers each event once with two workers over the same database, in order per conversation', async () => {
    newTenant();
    const { secret } = await harness.service.createEndpoint(tenant, { url: receiver.url('/pair'), types: ['message.created'] });
    const first = await harness.startWorker({ concurrency: 4, perEndpoint: 3 });
    const second = await harness.startWorker({ concurrency: 4, perEndpoint: 3 });
    const keys: ConversationKey[] = [];
    for (let index = 0; index < 12; index++) {
      const key = await harness.conversation(tenant);
      await harness.messages(key, ['a', 'b', 'c']);
      keys.push(key);
    }
    // Reacted to by both nodes' runners (at least once), concurrently.
    await Promise.all(keys.flatMap((key) => [harness.react(key), harness.react(key)]));
    await eventually(() => expect(receiver.received.filter((entry) => keys.some((key) => key.conversationId === entry.payload.data.conversation))).toHaveLength(36));
    const ours = receiver.received.filter((entry) => keys.some((key) => key.conversationId === entry.payload.data.conversation));
    expect(new Set(ours.map((entry) => entry.id)).size).toBe(36);
    for (const key of keys) expect(seqsOf(ours, key.conversationId)).toEqual([2, 3, 4]);
    for (const entry of ours) WebhookReceiver.verify(secret, entry);
    expect(first.owner).not.toBe(second.owner);
  });
});
