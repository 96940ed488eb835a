import { verifyWebhook, WebhookVerificationError, WebhookVerifier } from '@parley/client/webhooks';
import { describe, expect, it } from 'vitest';
import { newSecret } from '../../src/webhooks/payload.js';
import { signedHeaders, webhookBody } from '../../src/webhooks/index.js';

const event = { id: 'evt-7', tenant: 'acme', conversation: 'c9', seq: 12, type: 'message.created', ts: 1_700_000_000_000, actor: { kind: 'user' as const, id: 'alice' }, data: { content: { type: 'text', text: 'hello' } } };

/** A delivery as the server's worker signs it, and its headers as Node gives them to a receiver. */
function delivery(secrets: string[], payloadEvent: Record<string, unknown> = event, now = Date.now(), id = String(payloadEvent.id)) {
  const body = webhookBody(payloadEvent as typeof event);
  return { body, headers: signedHeaders(secrets, id, body, now) };
}

describe('@parley/client/webhooks against deliveries signed by the server', () => {
  const secret = newSecret();

  it('returns the typed event of a genuine delivery, from Node headers, fetch Headers and bytes', () => {
    const { body, headers } = delivery([secret]);
    const expected = { id: 'evt-7', type: 'message.created', timestamp: '2023-11-14T22:13:20.000Z', event };
    expect(verifyWebhook(secret, body, headers)).toEqual(expected);
    expect(new WebhookVerifier(secret).verify(new TextEncoder().encode(body), new Headers(headers))).toEqual(expected);
    const shouted = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toUpperCase(), value]));
    expect(verifyWebhook(secret, body, shouted).event.seq).toBe(12);
  });

  it('refuses a wrong secret, a changed body, an old timestamp and missing headers', () => {
    const { body, headers } = delivery([secret]);
    const refused = (run: () => unknown) => expect(run).toThrow(WebhookVerificationError);
    refused(() => verifyWebhook(newSecret(), body, headers));
    refused(() => verifyWebhook(secret, body.replace('hello', 'hellO'), headers));
    refused(() => verifyWebhook(secret, body, { ...headers, 'webhook-id': 'evt-8' }));
    const old = delivery([secret], event, Date.now() - 6 * 60_000);
    refused(() => verifyWebhook(secret, old.body, old.headers));
    refused(() => verifyWebhook(secret, body, { 'webhook-id': headers['webhook-id'] }));
  });

  it('accepts either secret during a rotation, signed with one or both', () => {
    const next = newSecret();
    const both = delivery([next, secret]);
    expect(verifyWebhook(secret, both.body, both.headers).id).toBe('evt-7');
    expect(verifyWebhook(next, both.body, both.headers).id).toBe('evt-7');
    const onlyNew = delivery([next]);
    expect(new WebhookVerifier([secret, next]).verify(onlyNew.body, onlyNew.headers).id).toBe('evt-7');
    expect(() => new WebhookVerifier([])).toThrow(TypeError);
  });

  it('passes an event type it does not know through as a generic event, but refuses what is not an event', () => {
    const later = { ...event, id: 'evt-9', type: 'note.created', data: { text: 'from a later server' } };
    const signed = delivery([secret], later);
    expect(verifyWebhook(secret, signed.body, signed.headers)).toMatchObject({ type: 'note.created', event: { seq: 12, data: { text: 'from a later server' } } });
    const notAnEvent = { id: 'x', type: 'message.created', ts: 0 };
    const broken = delivery([secret], notAnEvent);
    expect(() => verifyWebhook(secret, broken.body, broken.headers)).toThrow(/not a Parley webhook payload/);
  });
});
