import { ParleyClientError } from './errors.js';

/**
 * A new idempotency key for a message: a random UUID. Uses `crypto.randomUUID` where available and
 * `crypto.getRandomValues` otherwise (browsers expose only the latter outside secure contexts).
 */
export function newClientMsgId(): string {
  const crypto = globalThis.crypto as Crypto | undefined;
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  if (typeof crypto?.getRandomValues !== 'function') {
    throw new ParleyClientError('bad_request', 'no crypto.getRandomValues in this runtime: pass a clientMsgId to send()');
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
