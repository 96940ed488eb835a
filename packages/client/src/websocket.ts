import { ParleyClientError } from './errors.js';

/**
 * The part of the standard WebSocket API the client uses. Browsers' WebSocket and the `ws` package's
 * WebSocket class both fit, so neither needs an adapter.
 */
export interface WebSocketLike {
  readonly readyState: number;
  // `any`: implementations type their event objects differently; the client reads only code, reason and data.
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  /** Set to 'arraybuffer' so that binary frames arrive as ArrayBuffers (browsers default to Blobs, ws to Buffers). */
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket class: `globalThis.WebSocket` in browsers, `WebSocket` from the `ws` package on Node 20. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The readyState of an open WebSocket. */
export const WEBSOCKET_OPEN = 1;

/** The WebSocket class to use: the given one, else the global one; throws when there is neither. */
export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor {
  const found = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof found === 'function') return found;
  throw new ParleyClientError(
    'bad_request',
    'no WebSocket implementation: this runtime has no global WebSocket. On Node 20, install the "ws" package ' +
      "and pass it: new ParleyClient({ url, token, WebSocket }) with import { WebSocket } from 'ws'",
  );
}
