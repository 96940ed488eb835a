import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { CLOSE_CODES, jsonCodec, type Codec, type ServerFrame } from '@parley/protocol';
import { msgpackCodec } from '@parley/protocol/msgpack';
import { Sender, WebSocket, WebSocketServer, type PerMessageDeflateOptions, type RawData } from 'ws';
import { ParleyError } from '../core/errors.js';
import type { ConnectionAdmission } from './admission.js';
import type { ClientConnection, ConnectionHandler } from './connection.js';
import { acceptUpgrade, pathOf } from './upgrade.js';

export const WEBSOCKET_PATH = '/v1/ws';

export interface WebSocketTransportOptions {
  maxFrameBytes: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** permessage-deflate: null leaves it off; a number turns it on for messages of at least that many bytes. */
  deflateThresholdBytes: number | null;
  /** WebSocket endpoints of other dialects (the AI SDK's), by path: their upgrades are handed on. */
  otherEndpoints?: ReadonlyMap<string, UpgradeHandler>;
}

/** Takes an HTTP upgrade request, as Node's `upgrade` event hands it over. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

const MAX_CLOSE_REASON_BYTES = 123;

// ws reports no drain event of its own; a replay waiting for the buffer to empty checks this often.
const DRAIN_POLL_MS = 10;

/** The codecs a client can ask for by subprotocol; one that offers none gets JSON. */
const CODECS: ReadonlyMap<string, Codec> = new Map([jsonCodec, msgpackCodec].map((codec) => [codec.subprotocol, codec]));

/**
 * A client connection over `ws`. Data frames are built here and written to the TCP socket directly: the
 * frames of one event-loop turn go out in one write (the cost of a delivery is the write, not the bytes),
 * and a push that many connections receive is encoded and framed once (see `framedOnce`). Control frames
 * (ping, close) still go through `ws`; they may come between two data frames, which WebSocket allows.
 * With permessage-deflate negotiated, frames are compressed per connection and go through `ws` instead.
 */
class WebSocketConnection implements ClientConnection {
  readonly transport = 'websocket';
  lastSeenAt = Date.now();
  handler: ConnectionHandler | null = null;
  owner: WebSocketTransport | null = null;
  private closing = false;
  /** Whole frames waiting for the end of this event-loop turn (none allocated while idle). */
  private pending: Buffer[] | null = null;
  private pendingBytes = 0;
  private readonly tcp: Duplex | null;

  constructor(
    readonly id: string,
    readonly remoteAddress: string,
    readonly socket: WebSocket,
    private readonly codec: Codec,
  ) {
    this.tcp = socket.extensions.includes('permessage-deflate') ? null : (socket as unknown as { _socket: Duplex })._socket;
  }

  get closed(): boolean {
    return this.closing || this.socket.readyState !== WebSocket.OPEN;
  }

  get bufferedBytes(): number {
    return this.socket.bufferedAmount + this.pendingBytes;
  }

  send(frame: ServerFrame, shared?: object): boolean {
    if (this.closed) return false;
    if (!this.tcp) {
      this.socket.send(this.codec.encode(frame));
      return true;
    }
    const bytes = shared ? framedOnce(this.codec, shared, frame) : frameOf(this.codec, this.codec.encode(frame));
    if (!this.pending) {
      this.pending = [];
      scheduleFlush(this);
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    return true;
  }

  /** Writes the frames queued in this turn, as one write. */
  flush(): void {
    const frames = this.pending;
    if (!frames) return;
    this.pending = null;
    this.pendingBytes = 0;
    if (this.socket.readyState !== WebSocket.OPEN || !this.tcp || this.tcp.destroyed) return;
    this.tcp.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  drained(low: number): Promise<void> | undefined {
    if (this.closed || this.bufferedBytes <= low) return undefined;
    return new Promise((resolve) => {
      const check = () => (this.closed || this.bufferedBytes <= low ? resolve() : setTimeout(check, DRAIN_POLL_MS));
      check();
    });
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    // What was queued (a `disconnect` push, notably) goes before the close frame.
    this.flush();
    this.closing = true;
    try {
      // A close reason is limited to 123 bytes; ws throws on longer ones.
      this.socket.close(code, truncateUtf8(reason, MAX_CLOSE_REASON_BYTES));
    } catch {
      this.socket.terminate();
    }
  }
}

/** Connections with frames queued in this event-loop turn; written together once the turn's I/O is done. */
const flushQueue = new Set<WebSocketConnection>();

function scheduleFlush(connection: WebSocketConnection): void {
  if (flushQueue.size === 0) setImmediate(flushAll);
  flushQueue.add(connection);
}

function flushAll(): void {
  for (const connection of flushQueue) connection.flush();
  flushQueue.clear();
}

/** A complete unmasked WebSocket data frame (header and payload in one buffer). */
function frameOf(codec: Codec, data: string | Uint8Array): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const [header, body] = Sender.frame(payload, { fin: true, rsv1: false, opcode: codec.binary ? 2 : 1, mask: false, readOnly: true });
  return Buffer.concat([header!, body!]);
}

/** Frames of shared content by codec, kept as long as the content (an event or signal object) is referenced. */
const sharedFrames = new WeakMap<object, Map<Codec, Buffer>>();

function framedOnce(codec: Codec, shared: object, frame: ServerFrame): Buffer {
  let byCodec = sharedFrames.get(shared);
  if (!byCodec) {
    byCodec = new Map();
    sharedFrames.set(shared, byCodec);
  }
  let bytes = byCodec.get(codec);
  if (!bytes) {
    bytes = frameOf(codec, codec.encode(frame));
    byCodec.set(codec, bytes);
  }
  return bytes;
}

/** Accepts WebSocket upgrades at /v1/ws: origin allowlist, per-IP limit, subprotocol, heartbeats. */
export class WebSocketTransport {
  private readonly server: WebSocketServer;
  private readonly connections = new Set<WebSocketConnection>();
  private readonly heartbeat: ReturnType<typeof setInterval>;

  constructor(
    httpServer: Server,
    private readonly options: WebSocketTransportOptions,
    /** Origin allowlist, per-IP limit and draining, shared with the HTTP transports. */
    private readonly admission: ConnectionAdmission,
    private readonly accept: (connection: ClientConnection, codec: Codec) => ConnectionHandler,
    private readonly newId: () => string,
  ) {
    this.server = new WebSocketServer({
      noServer: true,
      // Frames past the limit still get a `too_large` reply; only far larger ones close the connection (1009).
      maxPayload: options.maxFrameBytes * 4,
      perMessageDeflate: deflateOptions(options.deflateThresholdBytes),
      handleProtocols: (protocols) => (protocols.size === 0 ? false : [...protocols].find((name) => CODECS.has(name)) ?? false),
    });
    httpServer.on('upgrade', (request, socket, head) => this.upgrade(request, socket, head));
    this.heartbeat = setInterval(() => this.checkHeartbeats(), options.pingIntervalMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.connections.size;
  }

  /** Drops every remaining connection and stops the heartbeat. */
  close(): void {
    clearInterval(this.heartbeat);
    for (const connection of this.connections) connection.socket.terminate();
    this.server.close();
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const other = this.options.otherEndpoints?.get(pathOf(request.url) ?? '');
    if (other) return other(request, socket, head);
    acceptUpgrade(this.server, request, socket, head, this.refusal(request), (ws, address) => this.open(ws, address));
  }

  private refusal(request: IncomingMessage): ParleyError | null {
    if (pathOf(request.url) !== WEBSOCKET_PATH) return new ParleyError('not_found', 'not found');
    const offered = request.headers['sec-websocket-protocol'];
    if (offered && !offered.split(',').some((name) => CODECS.has(name.trim()))) {
      return new ParleyError('bad_request', `unsupported subprotocol; use one of ${[...CODECS.keys()].join(', ')}`);
    }
    // Browsers always send Origin on WebSocket upgrades; a client without one is not a browser.
    return this.admission.refusal({ origin: request.headers.origin, host: request.headers.host, remoteAddress: request.socket.remoteAddress ?? 'unknown' });
  }

  private open(socket: WebSocket, address: string): void {
    const codec = CODECS.get(socket.protocol) ?? jsonCodec;
    const connection = new WebSocketConnection(this.newId(), address, socket, codec);
    this.connections.add(connection);
    this.admission.opened(address);
    connection.handler = this.accept(connection, codec);
    connection.owner = this;
    // Shared listeners that find their connection on the socket: closures per connection cost idle memory.
    (socket as SocketWithConnection)[CONNECTION] = connection;
    socket.on('message', onSocketMessage);
    socket.on('pong', onSocketPong);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  /** A connection's socket closed: forget it. */
  closed(connection: WebSocketConnection): void {
    this.connections.delete(connection);
    this.admission.closed(connection.remoteAddress);
  }

  private checkHeartbeats(): void {
    const silentSince = Date.now() - this.options.pingIntervalMs - this.options.pingTimeoutMs;
    for (const connection of this.connections) {
      if (connection.lastSeenAt < silentSince) {
        connection.close(CLOSE_CODES.heartbeatTimeout, 'heartbeat timeout');
        connection.socket.terminate();
      } else if (connection.socket.readyState === WebSocket.OPEN) {
        connection.socket.ping();
      }
    }
  }
}

/**
 * ws's permessage-deflate, when configured. Each connection that negotiates it keeps its own zlib streams
 * (with ws's defaults, about 250 KB per connection once messages are compressed), and every message is
 * compressed once per connection: see docs/protocol.md before turning it on.
 */
function deflateOptions(thresholdBytes: number | null): PerMessageDeflateOptions | false {
  return thresholdBytes === null ? false : { threshold: thresholdBytes };
}

const CONNECTION = Symbol('parley connection');
type SocketWithConnection = WebSocket & { [CONNECTION]: WebSocketConnection };

function connectionOf(socket: WebSocket): WebSocketConnection {
  return (socket as SocketWithConnection)[CONNECTION];
}

function onSocketMessage(this: WebSocket, data: RawData, binary: boolean): void {
  const connection = connectionOf(this);
  connection.lastSeenAt = Date.now();
  connection.handler?.onFrame(binary ? toBytes(data) : data.toString(), binary);
}

function onSocketPong(this: WebSocket): void {
  connectionOf(this).lastSeenAt = Date.now();
}

function onSocketError(this: WebSocket): void {
  this.terminate();
}

function onSocketClose(this: WebSocket, code: number): void {
  const connection = connectionOf(this);
  connection.owner?.closed(connection);
  connection.handler?.onClose(code);
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  // Cut on a character boundary: drop a trailing partial character.
  return bytes.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
}

