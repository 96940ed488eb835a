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
  it('reads the id of a request map from its first bytes (msgpack)', () => {
    for (const id of [0, 7, 127, 200, 65_535, 70_000, 2 ** 40, 'req-1', 'x'.repeat(64)]) {
      const encoded = pack({ id, op: 'ping', args: { padding: 'p'.repeat(1000) } });
      expect(msgpackCodec.peekId(encoded), String(id)).toBe(id);
    }
    expect(msgpackCodec.peekId(bytes('81 a2 6964 cf 0000000000000009'))).toBe(9); // uint64 from another encoder
  });

  it('gives null when the id is not first, not valid or cut off (msgpack)', () => {
    expect(msgpackCodec.peekId(pack({ op: 'ping', id: 1 }))).toBeNull();
    expect(msgpackCodec.peekId(pack({ id: -1 }))).toBeNull();
    expect(msgpackCodec.peekId(pack({ id: 1.5 }))).toBeNull();
    expect(msgpackCodec.peekId(pack({ id: '' }))).toBeNull();
    expect(msgpackCodec.peekId(pack({ id: 'x'.repeat(65) }))).toBeNull();
    expect(msgpackCodec.peekId(bytes('81 a2 6964 cd 01'))).toBeNull();
    expect(msgpackCodec.peekId(bytes('81 a2 6964 a5 6162'))).toBeNull();
    expect(msgpackCodec.peekId(bytes('81 a2 6964 a2 fffe'))).toBeNull();
    expect(msgpackCodec.peekId(new Uint8Array(0))).toBeNull();
    expect(msgpackCodec.peekId('{"id":1}')).toBeNull();
  });

  it('reads the id of a JSON request from its first characters', () => {
    expect(jsonCodec.peekId(`{"id":"a1","op":"ping","args":{"x":"${'y'.repeat(1000)}"}}`)).toBe('a1');
    expect(jsonCodec.peekId(' { "id" : 42, "op": "ping" }')).toBe(42);
    expect(jsonCodec.peekId(new TextEncoder().encode('{"id":5}'))).toBe(5);
    expect(jsonCodec.peekId('{"op":"ping","id":1}')).toBeNull();
    expect(jsonCodec.peekId('garbage')).toBeNull();
  });
});
