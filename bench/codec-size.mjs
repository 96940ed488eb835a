// Bytes on the wire per typical frame: JSON (parley.v1.json) against MessagePack (parley.v1.msgpack), each
// also as permessage-deflate would send it: alone (no context takeover), and as the 100th of 100 such
// frames through one deflate stream (context takeover, ws's default, which costs memory per connection),
// where each frame has fresh ids, a later seq and ts, and other text.
// The frames are as a real server sends them (captured from one), with their ids and timestamps.
// Usage: node bench/codec-size.mjs   (after `npm install`, which builds)
import { randomUUID } from 'node:crypto';
import { constants, createDeflateRaw, deflateRawSync } from 'node:zlib';
import { jsonCodec } from '@parley/protocol';
import { msgpackCodec } from '@parley/protocol/msgpack';

const conversation = '60c1fb11-2c7b-40d4-95b1-60f7fabeb6b6';
const FRAMES = {
  'message.created event': {
    push: 'event',
    event: {
      id: '84977626-5d29-4367-b514-ef4cedaa30f0',
      tenant: 'acme',
      conversation,
      seq: 2,
      type: 'message.created',
      ts: 1795449560405,
      actor: { kind: 'user', id: 'alice' },
      data: { content: { type: 'text', text: 'Hi! Where is my order 1234? It should have arrived yesterday.' } },
      causation: { clientMsgId: 'b7e1c2d4-0f7a-4a53-9a77-5c1de0a3f001' },
    },
  },
  'ai.delta signal': {
    push: 'signal',
    signal: {
      tenant: 'acme',
      conversation,
      type: 'ai.delta',
      ts: 1795449560912,
      actor: { kind: 'assistant', id: 'assistant' },
      data: { generationId: '3f1c9a2e-7b44-4e0a-9d61-2a8c5e7f0b13', index: 17, text: ' order' },
    },
  },
  'message.send ack': { id: 4, result: { eventId: '84977626-5d29-4367-b514-ef4cedaa30f0', seq: 2, ts: 1795449560405, duplicate: false } },
};

const size = (data) => (typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
const deflated = (data) => deflateRawSync(data).byteLength;

const WORDS = 'the order ships from our warehouse in two days and tracking follows by mail once it leaves'.split(' ');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The frame as the `index`th of a conversation: new ids (the conversation's stays), later seq and ts, other text. */
function vary(value, index) {
  return JSON.parse(JSON.stringify(value), (key, item) => {
    if (typeof item === 'string' && UUID.test(item) && item !== conversation) return randomUUID();
    if (key === 'ts') return item + index * 731;
    if (key === 'seq' || key === 'index') return item + index;
    if (key === 'text') return Array.from({ length: item.split(' ').length }, (_, word) => WORDS[(index * 7 + word * 3) % WORDS.length]).join(' ');
    return item;
  });
}

/** Bytes of the last of `count` varied frames sent through one deflate stream. */
async function deflatedInStream(codec, value, count = 100) {
  const stream = createDeflateRaw();
  let last = 0;
  for (let index = 0; index < count; index++) {
    const frame = vary(value, index);
    const chunks = [];
    const onData = (chunk) => chunks.push(chunk);
    stream.on('data', onData);
    stream.write(codec.encode(frame));
    await new Promise((resolve) => stream.flush(constants.Z_SYNC_FLUSH, resolve));
    stream.off('data', onData);
    last = chunks.reduce((total, chunk) => total + chunk.byteLength, 0);
  }
  stream.close();
  return last;
}

const rows = [];
for (const [frame, value] of Object.entries(FRAMES)) {
  const json = jsonCodec.encode(value);
  const msgpack = msgpackCodec.encode(value);
  rows.push({
    frame,
    json: size(json),
    msgpack: size(msgpack),
    'msgpack/json': `${Math.round((100 * size(msgpack)) / size(json))}%`,
    'json deflated': deflated(json),
    'msgpack deflated': deflated(msgpack),
    'json in stream': await deflatedInStream(jsonCodec, value),
    'msgpack in stream': await deflatedInStream(msgpackCodec, value),
  });
}
console.table(rows);
