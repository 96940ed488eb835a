import { eventSchema, type ConversationEvent } from '@parley/protocol';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

export { WebhookVerificationError };

/** A verified delivery: its `webhook-id` (the event id; deduplicate by it), the event type and time, and the event. */
export interface ParleyWebhook {
  id: string;
  type: string;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  event: ConversationEvent;
}

/** Request headers as Node (`IncomingHttpHeaders`), fetch (`Headers`) or a plain object give them. */
export type WebhookRequestHeaders = Headers | Record<string, string | string[] | undefined>;

const HEADER_NAMES = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/**
 * Verifies Parley's webhook deliveries on the receiving side (Standard Webhooks signatures, through the
 * `standardwebhooks` package): the signature over the raw body, a timestamp within five minutes, and the
 * payload's shape. Give it the endpoint's secret (`whsec_...`); during a rotation, give both the new and the
 * old one. Works in Node, Deno, Bun, workers and browsers.
 */
export class WebhookVerifier {
  private readonly webhooks: Webhook[];

  constructor(secrets: string | readonly string[]) {
    const list = typeof secrets === 'string' ? [secrets] : [...secrets];
    if (list.length === 0) throw new TypeError('a webhook secret is needed');
    this.webhooks = list.map((secret) => new Webhook(secret));
  }

  /**
   * The delivery, if `body` (the raw request body, exactly as received, not re-serialized JSON) is signed by
   * one of the secrets; throws a WebhookVerificationError otherwise.
   */
  verify(body: string | Uint8Array, headers: WebhookRequestHeaders): ParleyWebhook {
    const signed = signatureHeaders(headers);
    let payload: unknown;
    let lastError: unknown;
    for (const webhook of this.webhooks) {
      try {
        payload = webhook.verify(body, signed);
        lastError = undefined;
        break;
      } catch (error) {
        lastError = error;
      }
    }
    if (lastError !== undefined) throw lastError;
    return toDelivery(signed['webhook-id'], payload);
  }
}

/** Verifies one delivery with `secret` (or several, during a rotation); see WebhookVerifier. */
export function verifyWebhook(secret: string | readonly string[], body: string | Uint8Array, headers: WebhookRequestHeaders): ParleyWebhook {
  return new WebhookVerifier(secret).verify(body, headers);
}

function signatureHeaders(headers: WebhookRequestHeaders): Record<(typeof HEADER_NAMES)[number], string> {
  const read = (name: string): string => {
    if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? '';
    const record = headers as Record<string, string | string[] | undefined>;
    const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
    return Array.isArray(value) ? value.join(' ') : (value ?? '');
  };
  const [id, timestamp, signature] = HEADER_NAMES.map(read) as [string, string, string];
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature };
}

/**
 * A signed payload as a typed delivery. Any event type passes (types added by later server versions too);
 * the envelope must be an event's, and it must be the event the `webhook-id` names.
 */
function toDelivery(id: string, payload: unknown): ParleyWebhook {
  const { type, timestamp, data } = (payload ?? {}) as { type?: unknown; timestamp?: unknown; data?: unknown };
  const event = eventSchema.safeParse(data);
  if (typeof type !== 'string' || typeof timestamp !== 'string' || !event.success) throw new WebhookVerificationError('not a Parley webhook payload');
  if (event.data.id !== id || event.data.type !== type) throw new WebhookVerificationError('the payload is not the event that webhook-id names');
  return { id, type, timestamp, event: event.data };
}
