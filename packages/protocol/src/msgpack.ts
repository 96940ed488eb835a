/**
 * MessagePack framing. Its own entry point, `@parley/protocol/msgpack`, so that the main entry stays
 * zod-only and a JSON client bundles none of msgpackr (pure JavaScript: it runs in browsers too).
 */
import { C1, Packr, type Options } from 'msgpackr';
import { CodecError, type Codec } from './codec.js';
import type { RequestId } from './frames.js';

/** The WebSocket subprotocol for MessagePack framing of protocol v1: one MessagePack map per binary frame. */
export const MSGPACK_SUBPROTOCOL = 'parley.v1.msgpack';

// Plain MessagePack that any decoder reads: maps, not msgpackr's record extension. Encoding follows
// JSON.stringify (an undefined property is left out, an undefined array item becomes nil), and int64/uint64
// from other encoders decode to numbers while they are safe integers ('auto'), so decoded values equal the
// JSON ones. msgpackr's type declarations lag its documentation: `skipValues` and 'auto' are documented.
const packr = new Packr({
  useRecords: false,
  encodeUndefinedAsNil: true,
  skipValues: [undefined],
  int64AsType: 'auto',
} as unknown as Options);

export const msgpackCodec: Codec = {
  name: 'msgpack',
  subprotocol: MSGPACK_SUBPROTOCOL,
  binary: true,
  // A copy of exactly the frame's bytes: msgpackr returns a view into a shared slab of up to several times
  // the largest frame so far, which a frame queued for a slow client would otherwise keep alive.
  encode: (frame) => new Uint8Array(packr.pack(frame)),
  decode: (data) => {
    if (typeof data === 'string') throw new CodecError('MessagePack frames are binary');
    return asJsonData(unpack(data));
  },
  peekId: (data) => (typeof data === 'string' ? null : peekId(data)),
};

function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (error) {
    // msgpackr reads nested values by recursion: deep enough input exhausts the stack.
    if (error instanceof RangeError && /call stack/i.test(error.message)) throw new CodecError('nesting too deep');
    throw new CodecError(error instanceof Error ? error.message.slice(0, 100) : 'undecodable data');
  }
}

/**
 * Holds decoded MessagePack to what JSON can carry, so both codecs hand the same values to validation:
 * maps with string keys, arrays, strings, finite numbers, booleans and nil. An undefined value (msgpackr's
 * extension for it) is treated as JSON.stringify would have: left out of a map, nil in an array. Anything
 * else (timestamps, bin, bigints, NaN, other extensions) is refused. Walks without recursion.
 */
function asJsonData(root: unknown): unknown {
  const containers: object[] = [];
  const admit = (value: unknown): void => {
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new CodecError(`${value} is not a number JSON can carry`);
      return;
    }
    if (typeof value === 'bigint') throw new CodecError('integers must be safe integers (at most 2^53 - 1 in size)');
    if (isArray(value) || isPlainObject(value)) return void containers.push(value);
    throw new CodecError(`${describe(value)} values are not part of the protocol`);
  };
  admit(root);
  for (let container = containers.pop(); container !== undefined; container = containers.pop()) {
    if (isArray(container)) {
      for (let index = 0; index < container.length; index++) {
        if (container[index] === undefined) container[index] = null;
        else admit(container[index]);
      }
      continue;
    }
    const record = container as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (record[key] === undefined) delete record[key];
      else admit(record[key]);
    }
  }
  return root;
}

function isArray(value: unknown): value is unknown[] {
  return Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype;
}

function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describe(value: unknown): string {
  if (value === C1) return 'never-used (0xc1)';
  if (value instanceof Date) return 'timestamp';
  if (value instanceof Uint8Array) return 'binary';
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value;
}

// ---- request id of a frame that is not decoded --------------------------------------------------------

const ID_KEY = [0xa2, 0x69, 0x64]; // fixstr "id"
const MAX_ID_LENGTH = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The id of a request map whose first key is "id" (as `{ id, op, args }` encodes), read from its first bytes. */
function peekId(bytes: Uint8Array): RequestId | null {
  const keyAt = mapHeaderLength(bytes[0]);
  if (keyAt === 0 || ID_KEY.some((byte, offset) => bytes[keyAt + offset] !== byte)) return null;
  const at = keyAt + ID_KEY.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return readId(bytes, view, at);
  } catch {
    return null; // cut off in the middle of the id, or not UTF-8
  }
}

function mapHeaderLength(first: number | undefined): number {
  if (first === undefined) return 0;
  if (first >= 0x80 && first <= 0x8f) return 1; // fixmap
  if (first === 0xde) return 3; // map 16
  if (first === 0xdf) return 5; // map 32
  return 0;
}

function readId(bytes: Uint8Array, view: DataView, at: number): RequestId | null {
  const type = view.getUint8(at);
  if (type <= 0x7f) return type; // positive fixint
  if (type === 0xcc) return view.getUint8(at + 1);
  if (type === 0xcd) return view.getUint16(at + 1);
  if (type === 0xce) return view.getUint32(at + 1);
  if (type === 0xcf) return safeInteger(Number(view.getBigUint64(at + 1)));
  if (type === 0xcb) return safeInteger(view.getFloat64(at + 1));
  const length = type >= 0xa0 && type <= 0xbf ? type & 0x1f : type === 0xd9 ? view.getUint8(at + 1) : -1;
  if (length < 1) return null;
  const start = at + (type === 0xd9 ? 2 : 1);
  if (start + length > bytes.length) return null;
  const id = utf8.decode(bytes.subarray(start, start + length));
  return id.length <= MAX_ID_LENGTH ? id : null;
}

function safeInteger(value: number): number | null {
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}
