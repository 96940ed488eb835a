import { randomBytes } from 'node:crypto';
import { Packr, pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { CodecError, jsonCodec, jsonProblem, type Codec } from '../src/index.js';
import { MSGPACK_SUBPROTOCOL, msgpackCodec } from '../src/msgpack.js';

const messageCreated = {
  push: 'event',
  event: {
    id: '0193a7c2-5b1e-7c1a-9d0e-3f4a5b6c7d8e',
    tenant: 'acme',
    conversation: 'support-4711',
    seq: 12,
    type: 'message.created',
    ts: 1_732_364_400_123,
    actor: { kind: 'user', id: 'alice' },
    data: { content: { type: 'text', text: 'Where is my order 1234? It was due yesterday — ünïcödé 🚚' } },
    causation: { clientMsgId: 'm-1' },
  },
};
const frames = [
  messageCreated,
  { id: 7, result: { eventId: 'e1', seq: 12, ts: 1_732_364_400_000, duplicate: false } },
  { id: 'req-1', error: { code: 'rate_limited', message: 'too many frames', retryAfterMs: 350 } },
  { id: null, error: { code: 'bad_request', message: 'frame is not valid msgpack' } },
  { id: 3, op: 'history', args: { conversationId: 'c1', after: 0, limit: 50, nested: [[1.5, -2, null, true, '']] } },
];

const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/\s/g, ''), 'hex'));

/** The decode failure of `data`, which must be a CodecError. */
function decodeError(data: Uint8Array | string, codec: Codec = msgpackCodec): string {
  try {
    codec.decode(data);
  } catch (error) {
    expect(error).toBeInstanceOf(CodecError);
    return (error as Error).message;
  }
  throw new Error(`decoded without error: ${Buffer.from(data).toString('hex')}`);
}

describe('msgpackCodec', () => {
  it('is the binary parley.v1.msgpack codec', () => {
    expect(msgpackCodec).toMatchObject({ name: 'msgpack', subprotocol: MSGPACK_SUBPROTOCOL, binary: true });
  });

  it('round-trips frames to the same values as JSON does', () => {
    for (const frame of frames) {
      const encoded = msgpackCodec.encode(frame);
      expect(encoded).toBeInstanceOf(Uint8Array);
      expect(msgpackCodec.decode(encoded as Uint8Array)).toEqual(jsonCodec.decode(jsonCodec.encode(frame)));
    }
  });

  it('writes standard MessagePack maps that any decoder reads (no record extension)', () => {
    expect(Buffer.from(msgpackCodec.encode({ id: 1, result: {} })).toString('hex')).toBe('82a2696401a6726573756c7480');
    const plainDecoder = new Packr({ useRecords: false, mapsAsObjects: false });
    const decoded = plainDecoder.unpack(msgpackCodec.encode(messageCreated) as Uint8Array) as Map<string, unknown>;
    expect(decoded).toBeInstanceOf(Map);
    expect([...decoded.keys()]).toEqual(['push', 'event']);
  });

  it('encodes undefined as JSON.stringify does: left out of maps, nil in arrays', () => {
    const frame = { id: 1, result: { a: undefined, list: [undefined, 1] } };
    expect(msgpackCodec.decode(msgpackCodec.encode(frame) as Uint8Array)).toEqual({ id: 1, result: { list: [null, 1] } });
  });

  it('returns bytes that own their memory, so a queued frame holds nothing else alive', () => {
    const encoded = msgpackCodec.encode(messageCreated) as Uint8Array;
    expect(encoded.byteOffset).toBe(0);
    expect(encoded.buffer.byteLength).toBe(encoded.byteLength);
    // A pure function of the frame: encoding twice gives the same bytes.
    expect(msgpackCodec.encode(messageCreated)).toEqual(encoded);
  });

  it('reads what other encoders write: int64/uint64 safe integers, map16, str8, undefined', () => {
    expect(msgpackCodec.decode(bytes('81 a3736571 cf 0000000000000005'))).toEqual({ seq: 5 });
    expect(msgpackCodec.decode(bytes('81 a3736571 d3 fffffffffffffffe'))).toEqual({ seq: -2 });
    expect(msgpackCodec.decode(bytes('de0001 a16b d903616263'))).toEqual({ k: 'abc' });
    // msgpackr's own encoding of undefined (fixext 1, type 0) in a map and an array.
    expect(msgpackCodec.decode(pack({ a: undefined, b: [undefined] }))).toEqual({ b: [null] });
    // Integer map keys become strings, as JSON object keys always are.
    expect(msgpackCodec.decode(bytes('81 01 02'))).toEqual({ 1: 2 });
  });

  it('refuses garbage, truncated and trailing bytes with a CodecError', () => {
    expect(decodeError(bytes('c1'))).toMatch(/0xc1/);
    expect(decodeError(bytes('82 a161'))).toMatch(/end of MessagePack data/);
    expect(decodeError(bytes('01 02'))).toMatch(/end of buffer not reached/);
    expect(decodeError(new Uint8Array(0))).toMatch(/end of MessagePack data/);
    expect(decodeError(bytes('dd ffffffff'))).toMatch(/end of MessagePack data/); // a 4-billion-item array header
    expect(decodeError(bytes('d4 05 00'))).toMatch(/extension/);
    expect(decodeError('{"id":1}')).toMatch(/binary/);
  });

  it('refuses values JSON cannot carry: huge integers, NaN, Infinity, timestamps, bin', () => {
    expect(decodeError(bytes('81 a178 cf 0020000000000001'))).toMatch(/safe integers/);
    expect(decodeError(bytes('81 a178 d3 8000000000000000'))).toMatch(/safe integers/);
    expect(decodeError(pack({ x: Number.NaN }))).toMatch(/NaN/);
    expect(decodeError(pack([Number.POSITIVE_INFINITY]))).toMatch(/Infinity/);
    expect(decodeError(pack({ at: new Date(0) }))).toMatch(/timestamp/);
    expect(decodeError(pack({ file: Buffer.from('abc') }))).toMatch(/binary/);
    expect(decodeError(new Packr({ moreTypes: true }).pack({ set: new Set([1]) }))).toMatch(/Set/);
  });

  it('refuses nesting deep enough to exhaust the stack, without crashing', () => {
    const deep = new Uint8Array(200_001).fill(0x91); // 200 000 one-item arrays
    deep[200_000] = 0xc0;
    expect(decodeError(deep)).toMatch(/nesting too deep/);
    expect(msgpackCodec.decode(pack({ ok: true }))).toEqual({ ok: true }); // msgpackr's state is intact after it
  });

  it('passes strings through for validation to judge (U+0000 is refused by jsonProblem, as under JSON)', () => {
    const decoded = msgpackCodec.decode(pack({ text: 'a\u0000b' }));
    expect(decoded).toEqual({ text: 'a\u0000b' });
    expect(jsonProblem(decoded)).toMatch(/U\+0000/);
  });

  it('never pollutes prototypes through a "__proto__" key', () => {
    const decoded = msgpackCodec.decode(bytes('81 a9 5f5f70726f746f5f5f 81 a5 61646d696e c3')) as object;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as { admin?: boolean }).admin).toBeUndefined();
  });

  it('throws only CodecError on random bytes and corrupted frames, and decodes the rest to JSON data', () => {
    const valid = msgpackCodec.encode(messageCreated) as Uint8Array;
    for (let round = 0; round < 3000; round++) {
      const input = round % 2 === 0 ? randomBytes(1 + (round % 64)) : corrupt(valid);
      try {
        const decoded = msgpackCodec.decode(input);
        expect(JSON.parse(JSON.stringify(decoded))).toEqual(decoded);
      } catch (error) {
        if (!(error instanceof CodecError)) throw new Error(`${Buffer.from(input).toString('hex')}: ${String(error)}`);
      }
    }
  });
});

function corrupt(valid: Uint8Array): Uint8Array {
  const copy = valid.slice();
  for (let flips = 0; flips < 3; flips++) copy[Math.floor(Math.random() * copy.length)] = Math.floor(Math.random() * 256);
  return Math.random() < 0.3 ? copy.subarray(0, Math.floor(Math.random() * copy.length)) : copy;
}

describe('peekId', () => {
  const codecs: Codec[] = [jsonCodec, msgpackCodec];
  const big = { pad: 'x'.repeat(100_000), nested: [{ id: 'not-this-one', deep: [[{ id: 'nor-this' }]] }], text: '"id":"fake" \\ } ] {' };

  it('reads the id wherever it stands among the keys, stepping over any values (JSON and msgpack)', () => {
    for (const codec of codecs) {
      for (const id of [0, 7, 127, 200, 65_535, 70_000, 2 ** 40, 'req-1', 'x'.repeat(64), 'ünï 🚚']) {
        for (const frame of [{ id, op: 'ping', args: big }, { op: 'ping', args: big, id }, { args: big, id, op: 'ping' }]) {
          expect(codec.peekId(codec.encode(frame)), `${codec.name} ${Object.keys(frame).join(',')} ${String(id)}`).toBe(id);
        }
      }
    }
  });

  it('takes only the top-level id, never one inside a value', () => {
    for (const codec of codecs) {
      expect(codec.peekId(codec.encode({ op: 'ping', args: { id: 5 } })), codec.name).toBeNull();
      expect(codec.peekId(codec.encode({ op: 'ping', args: [{ id: 5 }], note: '"id":5' })), codec.name).toBeNull();
    }
  });

  it('finds what decoding finds, for frames of random shape and key order', () => {
    const value = (depth: number): unknown => {
      const kind = Math.floor(Math.random() * (depth > 3 ? 4 : 6));
      if (kind === 0) return Math.floor(Math.random() * 2 ** 40) * (Math.random() < 0.5 ? -1 : 1);
      if (kind === 1) return Math.random() < 0.5 ? 'id' : `s"\\${'é'.repeat(Math.floor(Math.random() * 300))}`;
      if (kind === 2) return [null, true, false, 1.5][Math.floor(Math.random() * 4)];
      if (kind === 3) return randomBytes(Math.floor(Math.random() * 8)).toString('base64');
      if (kind === 4) return Array.from({ length: Math.floor(Math.random() * 5) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(Math.random() * 5) }, (_, index) => [index % 2 ? 'id' : `k${index}`, value(depth + 1)]));
    };
    for (let round = 0; round < 300; round++) {
      const entries: Array<[string, unknown]> = Array.from({ length: Math.floor(Math.random() * 6) }, (_, index) => [`key${index}`, value(0)]);
      const id = [Math.floor(Math.random() * 1e9), `r-${round}`][round % 2]!;
      entries.splice(Math.floor(Math.random() * (entries.length + 1)), 0, ['id', id]);
      const frame = Object.fromEntries(entries);
      for (const codec of codecs) expect(codec.peekId(codec.encode(frame)), `${codec.name}: ${JSON.stringify(frame).slice(0, 200)}`).toBe(id);
    }
  });

  it('reads no further than maxBytes: an id beyond it, or cut by it, is not read', () => {
    for (const codec of codecs) {
      const last = codec.encode({ op: 'ping', args: big, id: 123_456 });
      const length = typeof last === 'string' ? last.length : last.byteLength;
      expect(codec.peekId(last, length), codec.name).toBe(123_456);
      expect(codec.peekId(last, 1000), codec.name).toBeNull();
      // The id's last digit lies beyond the limit: not a shorter id.
      expect(codec.peekId(last, length - 2), codec.name).toBeNull();
    }
    expect(jsonCodec.peekId('{"id":123456}', 11)).toBeNull();
    expect(jsonCodec.peekId('{"id":"abc"}', 10)).toBeNull();
  });

  it('gives null when the id is missing, not valid or cut off', () => {
    for (const codec of codecs) {
      for (const frame of [{ op: 'ping' }, { id: -1 }, { id: 1.5 }, { id: '' }, { id: 'x'.repeat(65) }, { id: null }, { id: [1] }, { id: { n: 1 } }, { id: true }, [1, 2], 'id']) {
        expect(codec.peekId(codec.encode(frame as Record<string, unknown>)), `${codec.name} ${JSON.stringify(frame)}`).toBeNull();
      }
    }
    expect(msgpackCodec.peekId(bytes('81 a2 6964 cd 01'))).toBeNull();
    expect(msgpackCodec.peekId(bytes('81 a2 6964 a5 6162'))).toBeNull();
    expect(msgpackCodec.peekId(bytes('82 a2 6f70 df ffffffff'))).toBeNull(); // a map claiming 4 billion entries
    expect(msgpackCodec.peekId(new Uint8Array(0))).toBeNull();
    expect(msgpackCodec.peekId('{"id":1}')).toBeNull();
    for (const text of ['', 'garbage', '{', '{"id"', '{"id":', '{"op":"ping",', '{"op" "x","id":1}', '{"id":"a\\', '{"id":1e400}', '{"id":-0.0e1x}']) {
      expect(jsonCodec.peekId(text), text).toBeNull();
    }
  });

  it('reads ids written other ways: int8 to int64, float32 and float64, str8 and str16 (msgpack); escapes and spacing (JSON)', () => {
    expect(msgpackCodec.peekId(bytes('81 a2 6964 d0 05'))).toBe(5);
    expect(msgpackCodec.peekId(bytes('81 a2 6964 d1 0100'))).toBe(256);
    expect(msgpackCodec.peekId(bytes('81 a2 6964 d3 0000000000000009'))).toBe(9);
    expect(msgpackCodec.peekId(bytes('81 a2 6964 cf 0000000000000009'))).toBe(9); // uint64 from another encoder
    expect(msgpackCodec.peekId(bytes('81 a2 6964 ca 40a00000'))).toBe(5); // float32 5.0
    expect(msgpackCodec.peekId(bytes('81 a2 6964 d0 ff'))).toBeNull(); // int8 -1
    // Invalid UTF-8 reads as U+FFFD, as decoding reads it.
    expect(msgpackCodec.peekId(bytes('81 a2 6964 a2 fffe'))).toBe((msgpackCodec.decode(bytes('81 a2 6964 a2 fffe')) as { id: string }).id);
    expect(msgpackCodec.peekId(bytes('82 a2 6f70 c4 03 616263 d9 02 6964 a1 61'))).toBe('a'); // bin before, key as str8
    expect(msgpackCodec.peekId(bytes('82 da 0002 6f70 d6 01 00000000 da 0002 6964 da 0001 62'))).toBe('b'); // fixext, str16
    expect(jsonCodec.peekId(' { "op" : "ping" , "id" : 42 } ')).toBe(42);
    expect(jsonCodec.peekId('{"\\u0069d":"esc","op":"ping"}')).toBe('esc');
    expect(jsonCodec.peekId('{"op":"a\\"b","id":"q\\"1"}')).toBe('q"1');
    expect(jsonCodec.peekId('{"id":1e3}')).toBe(1000);
    expect(jsonCodec.peekId(new TextEncoder().encode('{"op":"ü","id":5}'))).toBe(5);
    expect(jsonCodec.peekId(new TextEncoder().encode('{"id":"ü🚚"}'))).toBe('ü🚚');
  });

  it('never throws on random bytes and corrupted frames', () => {
    const valid = msgpackCodec.encode({ op: 'ping', args: big, id: 3 }) as Uint8Array;
    for (let round = 0; round < 500; round++) {
      const input = round % 2 ? randomBytes(Math.floor(Math.random() * 64)) : corrupt(valid);
      expect(() => msgpackCodec.peekId(input)).not.toThrow();
      expect(() => jsonCodec.peekId(input)).not.toThrow();
      expect(() => jsonCodec.peekId(Buffer.from(input).toString('latin1'))).not.toThrow();
    }
  });
});
