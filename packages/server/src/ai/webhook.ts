import { createHmac } from 'node:crypto';

/** Where and how a webhook is called. */
export interface WebhookTarget {
  url: string;
  /** HMAC-SHA256 key; the tenant's backend verifies `X-Parley-Signature` with it. */
  secret: string;
  timeoutMs: number;
}

/** The signature header of a webhook call: `v1=` + hex HMAC-SHA256 over `timestamp.body`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * POSTs `payload` as JSON, signed (`X-Parley-Timestamp`, `X-Parley-Signature`), and returns the JSON
 * answer. Throws on timeout, network errors, non-2xx answers and non-JSON bodies.
 */
export async function callWebhook(target: WebhookTarget, payload: unknown, signal?: AbortSignal): Promise<unknown> {
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const timeout = AbortSignal.timeout(target.timeoutMs);
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Parley-Timestamp': timestamp, 'X-Parley-Signature': signWebhook(target.secret, timestamp, body) },
    body,
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  if (!response.ok) throw new Error(`webhook answered HTTP ${response.status}`);
  return response.json();
}
