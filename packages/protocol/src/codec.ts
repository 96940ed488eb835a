import type { ServerFrame } from './frames.js';

/** The WebSocket subprotocol for JSON framing of protocol v1 (also the default when none is offered). */
export const JSON_SUBPROTOCOL = 'parley.v1.json';

/**
 * Turns frames into wire data and back. `decode` returns untyped data: callers validate it with the
 * frame schemas, so a codec never decides what is valid. It throws on data it cannot parse.
 */
export interface Codec {
  readonly name: string;
  readonly subprotocol: string;
  /** Whether frames travel as binary WebSocket messages. */
  readonly binary: boolean;
  encode(frame: ServerFrame | Record<string, unknown>): string | Uint8Array;
  decode(data: string | Uint8Array): unknown;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const jsonCodec: Codec = {
  name: 'json',
  subprotocol: JSON_SUBPROTOCOL,
  binary: false,
  encode: (frame) => JSON.stringify(frame),
  decode: (data) => JSON.parse(typeof data === 'string' ? data : utf8.decode(data)),
};
