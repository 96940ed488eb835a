import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { WebhookReceiver } from '../../../../test/support/webhook-receiver.js';
import { eventually } from '../../../../test/support/eventually.js';
import { ParleyError } from '../../src/core/errors.js';
import { matchesTypes, retryDelay, signedHeaders, webhookBody, webhookDeliveryPageSchema, webhookEndpointSchema, webhookEndpointWithSecretSchema } from '../../src/webhooks/index.js';
import { WebhookHarness } from './harness.js';

describe('event type filters', () => {
  it('match all, exact types and prefixes', () => {
    expect(matchesTypes(['*'], 'anything.at_all')).toBe(true);
    expect(matchesTypes(['message.created'], 'message.created')).toBe(true);
    expect(matchesTypes(['message.created'], 'message.deleted')).toBe(false);
    expect(matchesTypes(['ai.*'], 'ai.completed')).toBe(true);
    expect(matchesTypes(['ai.*'], 'aim.completed')).toBe(false);
    expect(matchesTypes(['ai.*'], 'ai')).toBe(false);
    expect(matchesTypes([], 'message.created')).toBe(false);
  });
});

describe('retry delays', () => {
  it('grow exponentially up to the cap, with full jitter', () => {
    const highest = () => 0.999_999;
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelay(attempt, 1000, 10_000, highest))).toEqual([999, 1999, 3999, 7999, 9999]);
    expect(retryDelay(500, 1000, 10_000, highest)).toBe(9999);
    expect(retryDelay(3, 1000, 10_000, () => 0)).toBe(0);
    expect(retryDelay(3, 1000, 10_000, () => 0.5)).toBe(2000);
  });
});

describe('signing', () => {
  it('signs each attempt with its own timestamp, verifiable with standardwebhooks, with every secret during a rotation', () => {
    const event = { id: 'evt-1', tenant: 'acme', conversation: 'c1', seq: 3, type: 'message.created', ts: 1_700_000_000_000, actor: { kind: 'user' as const, id: 'alice' }, data: { content: { type: 'text', text: 'hi' } } };
    const body = webhookBody(event);
    expect(JSON.parse(body)).toEqual({ type: 'message.created', timestamp: '2023-11-14T22:13:20.000Z', data: event });
    const [current, previous] = ['whsec_' + Buffer.alloc(32, 1).toString('base64'), 'whsec_' + Buffer.alloc(32, 2).toString('base64')];
    const now = Date.now();
    const headers = signedHeaders([current!, previous!], event.id, body, now);
    expect(headers).toMatchObject({ 'webhook-id': 'evt-1', 'webhook-timestamp': String(Math.floor(now / 1000)) });
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(current!).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(previous!).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(current!).verify(body, signedHeaders([current!], event.id, body, now - 10 * 60_000))).toThrow(/too old/);
    expect(() => new Webhook(current!).verify(body.replace('hi', 'ho'), headers)).toThrow(/signature/);
  });
});

describe('WebhookService and the reaction', () => {
  let harness: WebhookHarness;

  beforeAll(async () => {
    harness = await WebhookHarness.open((type) => (type === 'ai.tool_call' ? 'staff' : 'members'));
  });
  afterAll(() => harness.close());

  const refused = async (promise: Promise<unknown>, code: string) => {
    const error = await promise.then(() => null, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(ParleyError);
    expect((error as ParleyError).code).toBe(code);
    return error as ParleyError;
  };

  it('creates an endpoint with a secret shown once and validates every input', async () => {
    const created = await harness.service.createEndpoint('acme', { url: 'https://hooks.example/parley', types: ['message.created', 'ai.*', 'ai.*'], description: 'CRM' });
    // The answers have the shapes the API documents.
    expect(webhookEndpointWithSecretSchema.strict().parse(created)).toEqual(created);
    const { endpoint, secret } = created;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(endpoint).toMatchObject({ tenant: 'acme', url: 'https://hooks.example/parley', types: ['message.created', 'ai.*'], description: 'CRM', enabled: true });
    expect(JSON.stringify(await harness.service.listEndpoints('acme'))).not.toContain(secret);
    expect(JSON.stringify(await harness.service.getEndpoint('acme', endpoint.id))).not.toContain(secret.slice(6));

    const bad = [
      { url: 'ftp://hooks.example/x', types: ['*'] },
      { url: 'not a url', types: ['*'] },
      { url: `https://hooks.example/${'x'.repeat(2100)}`, types: ['*'] },
      { url: 'https://hooks.example/x', types: [] },
      { url: 'https://hooks.example/x', types: ['message.exploded'] },
      { url: 'https://hooks.example/x', types: ['nothing.*'] },
      { url: 'https://hooks.example/x', types: ['*'], description: 'x'.repeat(501) },
      { url: 'http://169.254.169.254/latest/meta-data', types: ['*'] },
      { url: 'http://[::1]:8080/x', types: ['*'] },
      { url: 'http://10.1.2.3/x', types: ['*'] },
    ];
    for (const input of bad) await refused(harness.service.createEndpoint('acme', input), 'bad_request');
    // Allow-listed addresses are fine (the harness allows 127.0.0.1).
    await harness.service.createEndpoint('acme', { url: 'http://127.0.0.1:9/x', types: ['*'] });
  });

  it('keeps every tenant to its own endpoints and deliveries', async () => {
    const { endpoint } = await harness.service.createEndpoint('tenant-a', { url: 'https://a.example/hooks', types: ['*'] });
    const key = await harness.conversation('tenant-a');
    await harness.react(key);
    const [delivery] = (await harness.service.listDeliveries('tenant-a', endpoint.id)).deliveries;
    expect(delivery).toBeDefined();
    const page = await harness.service.listDeliveries('tenant-a', endpoint.id);
    expect(webhookDeliveryPageSchema.parse(page)).toEqual(page);
    expect(webhookEndpointSchema.strict().parse(endpoint)).toEqual(endpoint);
    const b = 'tenant-b';
    await refused(harness.service.getEndpoint(b, endpoint.id), 'not_found');
    await refused(harness.service.updateEndpoint(b, endpoint.id, { enabled: false }), 'not_found');
    await refused(harness.service.rotateSecret(b, endpoint.id), 'not_found');
    await refused(harness.service.deleteEndpoint(b, endpoint.id), 'not_found');
    await refused(harness.service.listDeliveries(b, endpoint.id), 'not_found');
    await refused(harness.service.getDelivery(b, delivery!.id), 'not_found');
    await refused(harness.service.redeliver(b, delivery!.id), 'not_found');
    expect(await harness.service.listEndpoints(b)).toEqual([]);
    expect(await harness.service.getEndpoint('tenant-a', endpoint.id)).toMatchObject({ enabled: true });
    await refused(harness.service.getEndpoint('tenant-a', 'not an id'), 'bad_request');
  });

  it('enqueues matching member events from the endpoint creation on, once however often the reaction runs', async () => {
    const key = await harness.conversation('filters');
    await harness.messages(key, ['before the endpoint']);
    // Events committed before the endpoint exists are not delivered: wait for the clock to move past them.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const { endpoint: messages } = await harness.service.createEndpoint('filters', { url: 'https://hooks.example/m', types: ['message.created'] });
    const { endpoint: ai } = await harness.service.createEndpoint('filters', { url: 'https://hooks.example/ai', types: ['ai.*'] });
    const { endpoint: off } = await harness.service.createEndpoint('filters', { url: 'https://hooks.example/off', types: ['*'] });
    await harness.service.updateEndpoint('filters', off.id, { enabled: false });
    await harness.messages(key, ['after']);
    for (const type of ['ai.started', 'ai.tool_call', 'ai.completed']) await harness.store.append({ key, type, actor: { kind: 'assistant', id: 'g1' }, data: { generationId: 'g1' } } as never); // the store takes any type; only the log checks the catalogue
    for (let round = 0; round < 3; round++) await harness.react(key);
    const typesOf = async (endpointId: string) => (await harness.service.listDeliveries('filters', endpointId)).deliveries.map((delivery) => [delivery.seq, delivery.eventType]);
    expect(await typesOf(messages.id)).toEqual([[3, 'message.created']]);
    // ai.tool_call is staff-only here (the audience given to the reaction): never delivered.
    expect(await typesOf(ai.id)).toEqual([[6, 'ai.completed'], [4, 'ai.started']]);
    expect(await typesOf(off.id)).toEqual([]);
  });

  it('updates, rotates, pages and deletes', async () => {
    const receiver = await WebhookReceiver.start();
    try {
      const { endpoint, secret } = await harness.service.createEndpoint('paging', { url: 'https://old.example/hooks', types: ['message.created'] });
      const updated = await harness.service.updateEndpoint('paging', endpoint.id, { url: receiver.url('/rotated'), description: 'new' });
      expect(updated).toMatchObject({ url: receiver.url('/rotated'), description: 'new', types: ['message.created'] });
      await refused(harness.service.updateEndpoint('paging', endpoint.id, {}), 'bad_request');
      await refused(harness.service.updateEndpoint('paging', endpoint.id, { url: 'http://192.168.1.1/' }), 'bad_request');
      const rotated = await harness.service.rotateSecret('paging', endpoint.id);
      expect(rotated.secret).not.toBe(secret);

      for (let index = 0; index < 5; index++) {
        const key = await harness.conversation('paging');
        await harness.messages(key, ['one']);
        await harness.react(key);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await harness.service.listDeliveries('paging', endpoint.id, { limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...page.deliveries.map((delivery) => delivery.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(new Set(seen).size).toBe(5);
      await refused(harness.service.listDeliveries('paging', endpoint.id, { cursor: 'garbage' }), 'bad_request');
      await refused(harness.service.listDeliveries('paging', endpoint.id, { limit: 1000 }), 'bad_request');
      await refused(harness.service.listDeliveries('paging', endpoint.id, { status: 'lost' as never }), 'bad_request');

      // Signed with the new secret and, during the overlap, the old one: receivers verify with either.
      await harness.startWorker();
      await eventually(() => expect(receiver.accepted()).toHaveLength(5));
      for (const entry of receiver.accepted()) {
        WebhookReceiver.verify(rotated.secret, entry);
        WebhookReceiver.verify(secret, entry);
      }

      await harness.service.deleteEndpoint('paging', endpoint.id);
      await refused(harness.service.getEndpoint('paging', endpoint.id), 'not_found');
      await refused(harness.service.getDelivery('paging', seen[0]!), 'not_found');
    } finally {
      await Promise.all(harness.workers.splice(0).map((worker) => worker.stop()));
      await receiver.close();
    }
  });

  it('refuses more endpoints than a tenant may have', async () => {
    for (let index = 0; index < 50; index++) await harness.service.createEndpoint('crowded', { url: `https://hooks.example/${index}`, types: ['*'] });
    await refused(harness.service.createEndpoint('crowded', { url: 'https://hooks.example/51', types: ['*'] }), 'conflict');
  });
});
