import { randomBytes } from 'node:crypto';
import type { ConversationEvent } from '@parley/protocol';
import { Webhook } from 'standardwebhooks';

/**
 * The body of every delivery, in the shape Standard Webhooks recommends: the event type, when it happened
 * (ISO 8601), and the event envelope itself as `data` (its `id` is also the `webhook-id` header).
 */
export interface WebhookPayload {
  type: string;
  timestamp: string;
  data: ConversationEvent;
}

/** The payload of an event, serialized once: every attempt sends the same bytes. */
export function webhookBody(event: ConversationEvent): string {
  const payload: WebhookPayload = { type: event.type, timestamp: new Date(event.ts).toISOString(), data: event };
  return JSON.stringify(payload);
}

/**
 * The headers of one attempt, signed now by the Standard Webhooks scheme: `webhook-id` (the event id, the
 * receiver's deduplication key), `webhook-timestamp` (this attempt's own time, in seconds: receivers refuse
 * old ones, so a retry is signed anew) and `webhook-signature` (one `v1,` signature per secret, space-separated).
 */
export function signedHeaders(secrets: readonly string[], eventId: string, body: string, now: number): Record<string, string> {
  const at = new Date(now);
  return {
    'content-type': 'application/json',
    'user-agent': 'Parley-Webhooks/1',
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(now / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(eventId, at, body)).join(' '),
  };
}

/** A new signing secret in the Standard Webhooks format: `whsec_` and a base64 key of 32 random bytes. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A random id with a prefix naming what it is (`we_` endpoint, `wd_` delivery); 96 random bits. */
export function newId(prefix: 'we' | 'wd'): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}
