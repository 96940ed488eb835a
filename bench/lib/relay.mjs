// The client side shared by the relay scenarios (fanout, cluster): a publisher of timestamped messages
// and subscribers that measure delivery latency, for Parley, a raw `ws` server and Socket.IO alike.
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { Histogram, now } from './histogram.mjs';
import { ParleyConnection, pooled } from './parley-connection.mjs';
import { token } from './tokens.mjs';

export const PAYLOAD_BYTES = 100;
const ROOM = 'bench';

/** A message of exactly PAYLOAD_BYTES: `<index>|<send time ms>|` padded with dots. */
export function payload(index) {
  return `${index}|${now().toFixed(3)}|`.padEnd(PAYLOAD_BYTES, '.');
}

/** The index and send time embedded by `payload`. */
export function parsePayload(text) {
  const first = text.indexOf('|');
  return { index: Number(text.slice(0, first)), sentAt: Number(text.slice(first + 1, text.indexOf('|', first + 1))) };
}

/**
 * A publisher connection whose `send(text, index)` resolves when the message has gone all the way round:
 * acknowledged by the server and received by a probe subscriber in this process. Pacing on that, not on
 * the ack alone, bounds the messages between the publisher and the subscribers, so latency measures
 * delivery and not a backlog in socket buffers (Parley acknowledges after the commit, before the fan-out).
 */
export async function openPublisher({ system, url, codec, localAddress, conversationId, connections = 1 }) {
  const raw = await openRawPublisher({ system, url, codec, localAddress, conversationId, connections });
  const arrived = new Map();
  const probe = await openSubscriber({
    system,
    url,
    codec,
    localAddress,
    conversationId: raw.conversationId,
    user: 'probe',
    receive: (text) => {
      const { index } = parsePayload(text);
      arrived.get(index)?.();
      arrived.delete(index);
    },
    closed: () => undefined,
  });
  return {
    conversationId: raw.conversationId,
    send: (text, index) => {
      const received = new Promise((resolve) => arrived.set(index, resolve));
      return raw.send(text, index).then(
        () => received,
        (error) => {
          arrived.delete(index);
          throw error;
        },
      );
    },
    close: () => {
      raw.close();
      probe.close();
    },
  };
}

/** A publisher whose `send` resolves on the server's acknowledgement. */
async function openRawPublisher({ system, url, codec, localAddress, conversationId, connections }) {
  if (system === 'parley') {
    // Several connections only for fixed rates above what one connection's pipeline carries; round-robin.
    const pool = await Promise.all(Array.from({ length: connections }, async () => ParleyConnection.connect(url, await token('publisher'), { codec, localAddress })));
    const conversation = conversationId ?? (await pool[0].request('conversation.open', { members: [] })).conversation.id;
    return {
      conversationId: conversation,
      send: (text, index) => pool[index % pool.length].request('message.send', { conversationId: conversation, clientMsgId: `m-${index}`, content: { type: 'text', text } }),
      close: () => pool.forEach((connection) => connection.close()),
    };
  }
  if (system === 'ws') {
    const socket = await openWebSocket(`${url}/pub`, localAddress);
    // The relay acknowledges in order: the oldest waiting send is the one acknowledged.
    const waiting = [];
    socket.on('message', () => waiting.shift()());
    return { conversationId: ROOM, send: (text) => new Promise((resolve) => (waiting.push(resolve), socket.send(text))), close: () => socket.close() };
  }
  const socket = await openSocketIo(url, localAddress);
  return { conversationId: ROOM, send: (text) => new Promise((resolve) => socket.emit('publish', ROOM, text, resolve)), close: () => socket.close() };
}

/**
 * Sends as fast as the system carries: at most `window` messages not yet round (see openPublisher), until `durationMs`
 * passed or `maxMessages` were sent. With `rate`, sends at that fixed rate instead (messages per second).
 */
export async function publish(publisher, { durationMs, maxMessages = Infinity, window = 128, rate }) {
  // Indexes go on across calls: they are the messages' order and (for Parley) their idempotency keys.
  const firstIndex = publisher.published ?? 0;
  const startedAt = now();
  const deadline = startedAt + durationMs;
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let inFlight = 0;
  let lastAckAt = startedAt;
  await new Promise((resolve) => {
    const due = () => (rate ? Math.min(maxMessages, Math.floor(((now() - startedAt) * rate) / 1000) + 1) : maxMessages);
    const pump = () => {
      while (inFlight < window && sent < due() && now() < deadline) {
        inFlight++;
        const index = firstIndex + sent++;
        publisher.send(payload(index), index).then(
          () => ((acked += 1), (lastAckAt = now())),
          () => (errors += 1),
        ).finally(() => (inFlight--, pump()));
      }
      if ((sent >= maxMessages || now() >= deadline) && inFlight === 0) {
        clearInterval(ticker);
        resolve();
      }
    };
    // At a fixed rate, a ticker sends what has come due; otherwise each ack makes room for the next send.
    const ticker = rate ? setInterval(pump, 1) : undefined;
    pump();
  });
  publisher.published = firstIndex + sent;
  return { sent, acked, errors, startedAt, lastAckAt };
}

/**
 * `count` subscribers of the room or conversation, each counting deliveries and duplicates (an index
 * at or below the last one it saw) and recording latency into one histogram.
 */
export class Subscribers {
  histogram = new Histogram();
  deliveries = 0;
  duplicates = 0;
  bytes = 0;
  disconnects = 0;
  lastReceiveAt = 0;
  connections = [];

  async connect({ system, url, codec, localAddress, conversationId, start, count, concurrency = 200 }) {
    const lastIndex = new Int32Array(count).fill(-1);
    this.connections = await pooled(count, concurrency, async (offset) => {
      const receive = (text, bytes, order) => this.#receive(lastIndex, offset, text, bytes, order);
      return openSubscriber({ system, url, codec, localAddress, conversationId, user: `viewer-${start + offset}`, receive, closed: () => this.disconnects++ });
    });
  }

  progress() {
    return { deliveries: this.deliveries, disconnects: this.disconnects };
  }

  /** The counts of the phase so far; counting starts again from zero. */
  phase() {
    const counts = { histogram: this.histogram.counts, deliveries: this.deliveries, duplicates: this.duplicates, bytes: this.bytes, disconnects: this.disconnects, lastReceiveAt: this.lastReceiveAt };
    this.histogram = new Histogram();
    this.deliveries = this.duplicates = this.bytes = 0;
    return counts;
  }

  /** The counts so far; then closes the connections (closes from here on are not disconnects). */
  report() {
    const report = { histogram: this.histogram.counts, deliveries: this.deliveries, duplicates: this.duplicates, bytes: this.bytes, disconnects: this.disconnects, lastReceiveAt: this.lastReceiveAt };
    for (const connection of this.connections) connection.close();
    return report;
  }

  /** `order` is the event's seq for Parley (publishers may commit out of index order); the message index for the peers. */
  #receive(lastIndex, offset, text, bytes, order) {
    const receivedAt = now();
    const { index: messageIndex, sentAt } = parsePayload(text);
    const index = order ?? messageIndex;
    this.histogram.record(receivedAt - sentAt);
    this.deliveries++;
    this.bytes += bytes;
    this.lastReceiveAt = receivedAt;
    if (index <= lastIndex[offset]) this.duplicates++;
    else lastIndex[offset] = index;
  }
}

/** One subscriber; `receive(text, bytes, order?)` gets each message's text, its frame's size and, from Parley, its seq. */
async function openSubscriber({ system, url, codec, localAddress, conversationId, user, receive, closed }) {
  if (system === 'parley') {
    // Viewers are admins, who read every conversation of their tenant: no member list to fill for the fan-out.
    const connection = await ParleyConnection.connect(url, await token(user, ['admin']), { codec, localAddress });
    connection.onPush = (frame, bytes) => frame.push === 'event' && frame.event.type === 'message.created' && receive(frame.event.data.content.text, bytes, frame.event.seq);
    connection.onClose = closed;
    await connection.request('subscribe', { conversationId });
    return connection;
  }
  if (system === 'ws') {
    const socket = await openWebSocket(url, localAddress);
    socket.on('message', (data) => receive(data.toString(), data.length));
    socket.on('close', closed);
    return socket;
  }
  const socket = await openSocketIo(url, localAddress);
  // Socket.IO hides its frames; its bytes per event are not reported.
  socket.on('message', (text) => receive(text, 0));
  socket.on('disconnect', closed);
  await new Promise((resolve) => socket.emit('join', ROOM, resolve));
  return socket;
}

function openWebSocket(url, localAddress) {
  const socket = new WebSocket(url, { perMessageDeflate: false, localAddress });
  socket.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A Socket.IO client on its own WebSocket (`forceNew`: by default clients to one URL share a socket). */
export function openSocketIo(url, localAddress, auth) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, localAddress, ...(auth ? { auth } : {}) });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

export { openWebSocket };
