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
  peekId: (data, maxBytes = Number.POSITIVE_INFINITY) => (typeof data === 'string' ? null : peekId(data, maxBytes)),
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

const MAX_ID_LENGTH = 64;
// Not fatal, as decoding is not: invalid UTF-8 reads as U+FFFD (see docs/protocol.md), in the id too.
const utf8 = new TextDecoder('utf-8');

/**
 * The id of a request map, wherever "id" stands among its keys: the other keys and values are stepped over
 * by their headers, without decoding them, and nothing past `maxBytes` is read. Null when there is none,
 * it is not a valid request id, or it lies beyond what was read. With a key given twice it finds the first.
 */
function peekId(bytes: Uint8Array, maxBytes: number): RequestId | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, maxBytes));
  try {
    const map = read(view, 0);
    if (map.kind !== MAP) return null;
    let at = map.next;
    for (let entries = map.count; entries > 0 && at < view.byteLength; entries--) {
      const key = read(view, at);
      const valueAt = key.next + key.skip;
      if (key.kind === STRING && key.skip === 2 && view.getUint8(key.next) === 0x69 && view.getUint8(key.next + 1) === 0x64) return readId(bytes, view, valueAt);
      at = skipObjects(view, valueAt);
    }
    return null;
  } catch {
    return null; // ran past what may be read (a RangeError from the view)
  }
}

const MAP = 1;
const ARRAY = 2;
const STRING = 3;
const OTHER = 4;

/**
 * The header last read: its kind, where its payload (or its first contained object) starts, the payload
 * bytes to step over, and for a map its entries, for an array its items. One object, reused: stepping over
 * many small values allocates nothing.
 */
const scratch = { kind: OTHER, next: 0, skip: 0, count: 0 };

function read(view: DataView, at: number): typeof scratch {
  const type = view.getUint8(at);
  if (type <= 0x7f || type >= 0xe0) return set(OTHER, at + 1, 0, 0); // fixints
  if (type <= 0x8f) return set(MAP, at + 1, 0, type & 0x0f);
  if (type <= 0x9f) return set(ARRAY, at + 1, 0, type & 0x0f);
  if (type <= 0xbf) return set(STRING, at + 1, type & 0x1f, 0);
  switch (type) {
    case 0xc4: return set(OTHER, at + 2, view.getUint8(at + 1), 0); // bin 8
    case 0xc5: return set(OTHER, at + 3, view.getUint16(at + 1), 0);
    case 0xc6: return set(OTHER, at + 5, view.getUint32(at + 1), 0);
    case 0xc7: return set(OTHER, at + 3, view.getUint8(at + 1), 0); // ext 8: length, then type
    case 0xc8: return set(OTHER, at + 4, view.getUint16(at + 1), 0);
    case 0xc9: return set(OTHER, at + 6, view.getUint32(at + 1), 0);
    case 0xd9: return set(STRING, at + 2, view.getUint8(at + 1), 0);
    case 0xda: return set(STRING, at + 3, view.getUint16(at + 1), 0);
    case 0xdb: return set(STRING, at + 5, view.getUint32(at + 1), 0);
    case 0xdc: return set(ARRAY, at + 3, 0, view.getUint16(at + 1));
    case 0xdd: return set(ARRAY, at + 5, 0, view.getUint32(at + 1));
    case 0xde: return set(MAP, at + 3, 0, view.getUint16(at + 1));
    case 0xdf: return set(MAP, at + 5, 0, view.getUint32(at + 1));
    default: return set(OTHER, at + 1, FIXED_SIZES[type - 0xc0]!, 0);
  }
}

function set(kind: number, next: number, skip: number, count: number): typeof scratch {
  scratch.kind = kind;
  scratch.next = next;
  scratch.skip = skip;
  scratch.count = count;
  return scratch;
}

// Payload bytes of the fixed-size types from 0xc0 (nil) to 0xd8 (fixext 16) after their type byte; the
// variable-size ones among them (0xc4 to 0xc9) are read above.
const FIXED_SIZES = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8, 2, 3, 5, 9, 17];

/** The offset after the object at `at`, containers and their contents included, without recursion. */
function skipObjects(view: DataView, at: number): number {
  let offset = at;
  for (let remaining = 1; remaining > 0; remaining--) {
    const object = read(view, offset);
    offset = object.next + object.skip;
    remaining += object.kind === MAP ? object.count * 2 : object.count;
    // Every object takes a byte at least: a count larger than what is left ends here.
    if (offset > view.byteLength) throw new RangeError('beyond the frame');
  }
  return offset;
}

function readId(bytes: Uint8Array, view: DataView, at: number): RequestId | null {
  const type = view.getUint8(at);
  if (type <= 0x7f) return type; // positive fixint
  switch (type) {
    case 0xcc: return view.getUint8(at + 1);
    case 0xcd: return view.getUint16(at + 1);
    case 0xce: return view.getUint32(at + 1);
    case 0xcf: return safeInteger(Number(view.getBigUint64(at + 1)));
    case 0xd0: return safeInteger(view.getInt8(at + 1));
    case 0xd1: return safeInteger(view.getInt16(at + 1));
    case 0xd2: return safeInteger(view.getInt32(at + 1));
    case 0xd3: return safeInteger(Number(view.getBigInt64(at + 1)));
    case 0xca: return safeInteger(view.getFloat32(at + 1));
    case 0xcb: return safeInteger(view.getFloat64(at + 1));
  }
  const id = read(view, at);
  // At most 3 UTF-8 bytes per UTF-16 code unit: a longer string cannot be a valid id.
  if (id.kind !== STRING || id.skip < 1 || id.skip > MAX_ID_LENGTH * 3 || id.next + id.skip > view.byteLength) return null;
  const text = utf8.decode(bytes.subarray(id.next, id.next + id.skip));
  return text.length <= MAX_ID_LENGTH ? text : null;
}

function safeInteger(value: number): number | null {
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}
