// A lean Parley protocol client for load generation: one WebSocket, request/reply by id, pushes to a
// callback. Thousands of these fit in one process, unlike the SDK, which also keeps state for a UI.
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';

/** Wire codecs a load client can offer; the server picks by subprotocol. */
export const CODECS = {
  json: { subprotocol: 'parley.v1.json', encode: (frame) => JSON.stringify(frame), decode: (data) => JSON.parse(data.toString()) },
  msgpack: { subprotocol: 'parley.v1.msgpack', encode: (frame) => pack(frame), decode: (data) => unpack(data) },
};

/** An error reply to a request. */
export class RequestError extends Error {
  constructor(op, error) {
    super(`${op}: ${error.code}: ${error.message}`);
    this.code = error.code;
  }
}

/** One protocol connection. `onPush(frame, bytes)` receives every push with its size on the wire. */
export class ParleyConnection {
  onPush = () => {};
  onClose = () => {};
  #nextId = 1;
  #pending = new Map();

  constructor(socket, codec) {
    this.socket = socket;
    this.codec = codec;
    socket.on('message', (data) => this.#receive(data));
    socket.on('close', () => {
      for (const { reject, op } of this.#pending.values()) reject(new Error(`${op}: connection closed`));
      this.#pending.clear();
      this.onClose();
    });
    socket.on('error', () => undefined);
  }

  /** Opens a WebSocket; rejects with `HTTP <status>` when the server refuses the upgrade (an unknown subprotocol is 400). */
  static open(url, { codec = 'json', localAddress } = {}) {
    const wire = CODECS[codec];
    const socket = new WebSocket(url, wire.subprotocol, { perMessageDeflate: false, ...(localAddress ? { localAddress } : {}) });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new ParleyConnection(socket, wire)));
      socket.once('unexpected-response', (_request, response) => {
        reject(new Error(`HTTP ${response.statusCode}`));
        socket.terminate();
      });
      socket.once('error', reject);
    });
  }

  /** Opens and authenticates with `connect`. */
  static async connect(url, jwt, options) {
    const connection = await ParleyConnection.open(url, options);
    await connection.request('connect', { token: jwt });
    return connection;
  }

  /** Sends a request; resolves with its result, rejects with a RequestError on an error reply. */
  request(op, args = {}) {
    const id = this.#nextId++;
    this.socket.send(this.codec.encode({ id, op, args }));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject, op }));
  }

  close() {
    this.socket.close();
  }

  /** Drops the TCP connection without a closing handshake, like a lost network. */
  terminate() {
    this.socket.terminate();
  }

  #receive(data) {
    const frame = this.codec.decode(data);
    if (frame.push) return this.onPush(frame, data.length);
    const pending = this.#pending.get(frame.id);
    if (!pending) return;
    this.#pending.delete(frame.id);
    if (frame.error) pending.reject(new RequestError(pending.op, frame.error));
    else pending.resolve(frame.result);
  }
}

/** Runs `task(index)` for 0..count-1 with at most `limit` at once; resolves with the results in order. */
export async function pooled(count, limit, task) {
  const results = new Array(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
  return results;
}
