import type { RequestId, ServerFrame } from './frames.js';

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
  /** Best-effort request id of a frame that will not be decoded (too large, rate limited): reads only its first bytes. */
  peekId(data: string | Uint8Array): RequestId | null;
}

/** A frame a codec cannot decode; its message says why and is safe to show to the client that sent it. */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Only the frame's head is searched, so a huge frame costs nothing more than a small one.
const PEEK_BYTES = 200;
const JSON_ID_AT_START = /^\s*\{\s*"id"\s*:\s*(?:"([^"\\]{1,64})"|(\d{1,15}))/;

export const jsonCodec: Codec = {
  name: 'json',
  subprotocol: JSON_SUBPROTOCOL,
  binary: false,
  encode: (frame) => JSON.stringify(frame),
  decode: (data) => JSON.parse(typeof data === 'string' ? data : utf8.decode(data)),
  peekId: (data) => {
    const head = typeof data === 'string' ? data.slice(0, PEEK_BYTES) : latin1(data.subarray(0, PEEK_BYTES));
    const match = JSON_ID_AT_START.exec(head);
    if (!match) return null;
    return match[1] ?? Number(match[2]);
  },
};

// Latin-1 keeps one character per byte, so the regular expression above works on undecodable bytes too.
function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}
