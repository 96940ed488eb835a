import type { RequestId, ServerFrame } from './frames.js';
import { peekJsonId } from './json-peek.js';

/** The WebSocket subprotocol for JSON framing of protocol v1 (also the default when none is offered). */
export const JSON_SUBPROTOCOL = 'parley.v1.json';

/**
 * Turns frames into wire data and back. `decode` returns untyped data: callers validate it with the
 * frame schemas, so a codec never decides what is valid. It throws on data it cannot parse.
 * `encode` is a pure function of the frame (no per-connection state), so one encoding can be sent to
 * every connection that uses the codec.
 */
export interface Codec {
  readonly name: string;
  readonly subprotocol: string;
  /** Whether frames travel as binary WebSocket messages. */
  readonly binary: boolean;
  encode(frame: ServerFrame | Record<string, unknown>): string | Uint8Array;
  decode(data: string | Uint8Array): unknown;
  /**
   * The request id of a frame that will not be decoded (too large, rate limited): its top-level `id`,
   * wherever it stands among the keys, found by a scan that steps over the other values without building
   * them and reads at most `maxBytes` (default: all). Null when there is none or it is not a valid id.
   */
  peekId(data: string | Uint8Array, maxBytes?: number): RequestId | null;
}

/** A frame a codec cannot decode; its message says why and is safe to show to the client that sent it. */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const jsonCodec: Codec = {
  name: 'json',
  subprotocol: JSON_SUBPROTOCOL,
  binary: false,
  encode: (frame) => JSON.stringify(frame),
  decode: (data) => JSON.parse(typeof data === 'string' ? data : utf8.decode(data)),
  peekId: (data, maxBytes) => peekJsonId(data, maxBytes),
};
