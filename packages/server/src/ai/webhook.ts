import { createHmac } from 'node:crypto';
import type { OutboundHttp } from '../net/outbound-http.js';

/** Where and how a webhook is called. */
export interface WebhookTarget {
  url: string;
  /** HMAC-SHA256 key; the tenant's backend verifies `X-Parley-Signature` with it. */
  secret: string;
  timeoutMs: number;
}

// A tool's or context provider's answer goes into the model's context: a megabyte is far more than fits.
const MAX_ANSWER_BYTES = 1024 * 1024;

/** The signature header of a webhook call: `v1=` + hex HMAC-SHA256 over `timestamp.body`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * POSTs `payload` as JSON, signed (`X-Parley-Timestamp`, `X-Parley-Signature`), through the outbound client
 * (which refuses private addresses the operator has not allowed), and returns the JSON answer. Throws on
 * timeout, network errors, refused addresses, non-2xx answers (redirects included) and non-JSON bodies.
 */
export async function callWebhook(outbound: OutboundHttp, target: WebhookTarget, payload: unknown, signal?: AbortSignal): Promise<unknown> {
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const response = await outbound.request(target.url, {
    headers: { 'Content-Type': 'application/json', 'X-Parley-Timestamp': timestamp, 'X-Parley-Signature': signWebhook(target.secret, timestamp, body) },
    body,
    timeoutMs: target.timeoutMs,
    maxResponseBytes: MAX_ANSWER_BYTES,
    ...(signal ? { signal } : {}),
  });
  if (response.status < 200 || response.status > 299) throw new Error(`webhook answered HTTP ${response.status}`);
  if (response.truncated) throw new Error(`webhook answer is longer than ${MAX_ANSWER_BYTES} bytes`);
  return JSON.parse(response.body) as unknown;
}
