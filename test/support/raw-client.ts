import { jsonCodec, type Codec } from '@parley/protocol';
import WebSocket, { type RawData } from 'ws';

type Frame = Record<string, any>;

/** Options of RawClient.open. */
export interface RawClientOptions {
  /** Subprotocols to offer; default: the codec's. */
  protocol?: string | string[];
  headers?: Record<string, string>;
  /** How requests are encoded and binary frames decoded; default JSON. */
  codec?: Codec;
  /** Offer permessage-deflate (ws's client default). */
  perMessageDeflate?: boolean;
}

/**
 * A bare protocol client for tests: sends frames, collects everything the server sends, and lets a test
 * wait for a reply by id or for a frame matching a predicate. With JSON, binary frames are kept as
 * `{ binary: true, data }`; with a binary codec (MessagePack), text frames are kept as `{ text: true, data }`.
 */
export class RawClient {
  readonly frames: Frame[] = [];
  closeCode: number | null = null;
  closeReason = '';
  private nextId = 1;
  private waiters: Array<{ match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }> = [];
  private closedWaiters: Array<() => void> = [];

  private constructor(
    readonly socket: WebSocket,
    readonly codec: Codec,
  ) {
    socket.on('message', (data, binary) => this.receive(this.parse(data, binary)));
    socket.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      for (const resolve of this.closedWaiters) resolve();
    });
    socket.on('error', () => undefined);
  }

  static open(url: string, options: RawClientOptions = {}): Promise<RawClient> {
    const codec = options.codec ?? jsonCodec;
    const socket = new WebSocket(url, options.protocol ?? codec.subprotocol, { headers: options.headers ?? {}, perMessageDeflate: options.perMessageDeflate ?? true });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new RawClient(socket, codec)));
      socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
      socket.once('error', reject);
    });
  }

  /** Opens and authenticates; throws if connect fails. */
  static async connect(url: string, jwt: string, options: RawClientOptions = {}): Promise<RawClient> {
    const client = await RawClient.open(url, options);
    const reply = await client.request('connect', { token: jwt });
    if (reply.error) throw new Error(`connect failed: ${JSON.stringify(reply.error)}`);
    return client;
  }

  /** Sends a request and resolves with its reply frame (result or error). */
  request(op: string, args: unknown = {}): Promise<Frame> {
    const id = this.nextId++;
    this.sendFrame({ id, op, args });
    return this.waitFor((frame) => frame.id === id);
  }

  /** Sends a frame with the client's codec: a JSON text frame, or a binary frame for MessagePack. */
  sendFrame(frame: Frame): void {
    if (this.codec.binary) this.sendRaw(Buffer.from(this.codec.encode(frame) as Uint8Array), { binary: true });
    else this.sendRaw(JSON.stringify(frame));
  }

  /** Sends a request and returns its result, throwing on an error reply. */
  async call(op: string, args: unknown = {}): Promise<any> {
    const reply = await this.request(op, args);
    if (reply.error) throw new Error(`${op} failed: ${reply.error.code}: ${reply.error.message}`);
    return reply.result;
  }

  sendRaw(data: string | Buffer, options: { binary?: boolean } = {}): void {
    this.socket.send(data, { binary: options.binary ?? false });
  }

  /** Resolves with the first frame (already received or future) matching `match`. */
  waitFor(match: (frame: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const found = this.frames.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a frame; last: ${JSON.stringify(this.frames.at(-1) ?? null).slice(0, 300)}`)), timeoutMs);
      this.waiters.push({ match, resolve: (frame) => (clearTimeout(timer), resolve(frame)) });
    });
  }

  /** Durable events received for a conversation, in arrival order. */
  events(conversationId?: string): Array<Frame & { seq: number }> {
    return this.frames.filter((frame) => frame.push === 'event' && (!conversationId || frame.event.conversation === conversationId)).map((frame) => frame.event);
  }

  /** Resolves when the server closed the connection. */
  closed(timeoutMs = 10_000): Promise<{ code: number | null; reason: string }> {
    if (this.closeCode !== null) return Promise.resolve({ code: this.closeCode, reason: this.closeReason });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.closedWaiters.push(() => (clearTimeout(timer), resolve({ code: this.closeCode, reason: this.closeReason })));
    });
  }

  close(): void {
    this.socket.close();
  }

  /** Drops the TCP connection without a closing handshake, as a network failure does. */
  terminate(): void {
    this.socket.terminate();
  }

  private parse(data: RawData, binary: boolean): Frame {
    if (!this.codec.binary) return binary ? { binary: true, data } : JSON.parse(data.toString());
    return binary ? (this.codec.decode(data as Buffer) as Frame) : { text: true, data: data.toString() };
  }

  private receive(frame: Frame): void {
    this.frames.push(frame);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.match(frame)) return true;
      waiter.resolve(frame);
      return false;
    });
  }
}
