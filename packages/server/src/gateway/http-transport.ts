import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ParleyError } from '../core/errors.js';
import type { Bus, RealtimeBatch, RealtimeHttp, RealtimeRequest } from '../core/ports.js';
import type { ConnectionAdmission } from './admission.js';
import type { ConnectionHandler } from './connection.js';
import { HttpConnection, type HttpConnectionOwner } from './http-connection.js';
import { openText, pollBody, type HttpTransportName, type SessionOpen, type StreamFormat } from './http-framing.js';
import { PollReader, RelayReader, StreamReader, type RelayItem } from './http-readers.js';
import { NodeLink } from './node-link.js';

export interface HttpTransportOptions {
  /** This node's id: the prefix of the session ids it gives out, and its topic on the bus. */
  nodeId: string;
  pingIntervalMs: number;
  /** A relay not heard from for a ping interval and this long is taken for dead (as a WebSocket's pong). */
  pingTimeoutMs: number;
  /** A session without a reader for this long ends (as a WebSocket that died). */
  sessionTimeoutMs: number;
  /** A poll without frames answers empty after this long. */
  pollTimeoutMs: number;
  /** How long a request forwarded to the node holding a session waits for its answer. */
  forwardTimeoutMs: number;
}

// A poll that got frames waits this long for more, so that a burst goes in one answer.
const POLL_GATHER_MS = 5;

// `<nodeId>.<base64url of 18 random bytes>`: the node tells where the session lives; the rest is the capability.
const SESSION_ID = /^([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{24,64})$/;

const positionSchema = z.number().int().nonnegative();
const batchSchema = z.object({ n: z.number().int().positive().optional(), frames: z.array(z.unknown()).optional(), ack: positionSchema.optional() });
const attachSchema = z.object({ sessionId: z.string(), after: positionSchema, relay: z.string() });
const pollSchema = z.object({ sessionId: z.string(), after: positionSchema });
const sendSchema = z.object({ sessionId: z.string(), batch: batchSchema });
const relayIdSchema = z.object({ relay: z.string() });
const closeSchema = z.object({ code: z.number().int(), reason: z.string() });
const relaySchema = z.object({
  relay: z.string(),
  item: z.union([
    z.object({ frames: z.array(z.object({ position: positionSchema, json: z.string() })) }),
    z.object({ ping: z.literal(true) }),
    z.object({ close: closeSchema }),
    z.object({ end: z.literal(true) }),
  ]),
});

/** A stream this node serves for a session held by another node: what that node relays is written to it. */
interface RelayedStream {
  node: string;
  reader: StreamReader;
  /** The last position written to the client. */
  position: number;
  lastHeardAt: number;
}

/**
 * SSE, HTTP streaming and long-poll: sessions of HTTP requests, each a gateway session over an
 * HttpConnection. A request for a session held by another node (the id's prefix) is forwarded to it over
 * the bus; for a stream, that node relays what it sends, and this one writes it to the client. So any node
 * serves any request of any session: no sticky sessions.
 */
export class HttpTransport implements RealtimeHttp, HttpConnectionOwner {
  private readonly sessions = new Map<string, HttpConnection>();
  /** Relays of this node's sessions to streams held by other nodes, by relay id. */
  private readonly relays = new Map<string, { reader: RelayReader; connection: HttpConnection }>();
  /** Streams of other nodes' sessions that this node serves, by relay id. */
  private readonly relayed = new Map<string, RelayedStream>();
  private readonly link: NodeLink;
  private readonly heartbeat: ReturnType<typeof setInterval>;

  constructor(
    bus: Pick<Bus, 'publishTopic' | 'onTopic'>,
    private readonly options: HttpTransportOptions,
    private readonly admission: ConnectionAdmission,
    private readonly accept: (connection: HttpConnection) => ConnectionHandler,
    onError: (error: unknown) => void,
  ) {
    this.link = new NodeLink(bus, options.nodeId, { request: (op, payload, from) => this.forwarded(op, payload, from), notice: (op, payload, from) => this.notice(op, payload, from) }, onError);
    this.heartbeat = setInterval(() => this.beat(), options.pingIntervalMs);
    this.heartbeat.unref();
  }

  /** Starts taking requests forwarded by other nodes. */
  start(): Promise<void> {
    return this.link.start();
  }

  get size(): number {
    return this.sessions.size;
  }

  originAllowed(origin: string, host: string | undefined): boolean {
    return this.admission.originAllowed(origin, host);
  }

  async stream(request: RealtimeRequest, format: StreamFormat): Promise<ReadableStream<Uint8Array>> {
    this.checkOrigin(request);
    if (request.sessionId === undefined) return this.openStream(request, format);
    const after = lastPositionOf(request);
    const node = nodeOf(request.sessionId);
    if (node === this.options.nodeId) return this.attachStream(this.local(request.sessionId), after, format);
    return this.relayFrom(node, request.sessionId, after, format);
  }

  async poll(request: RealtimeRequest): Promise<string> {
    this.checkOrigin(request);
    if (request.sessionId === undefined) return this.openPoll(request);
    const after = lastPositionOf(request);
    const node = nodeOf(request.sessionId);
    if (node === this.options.nodeId) return this.pollLocal(request.sessionId, after, request.signal);
    const answer = await this.link.request(node, 'poll', { sessionId: request.sessionId, after }, this.options.pollTimeoutMs + this.options.forwardTimeoutMs);
    return z.string().parse(answer);
  }

  async send(request: RealtimeRequest, batch: RealtimeBatch): Promise<void> {
    this.checkOrigin(request);
    if (request.sessionId === undefined) throw new ParleyError('session_expired', 'send Parley-Session: the session that GET /v1/rt/stream or /v1/rt/poll opened');
    const node = nodeOf(request.sessionId);
    if (node === this.options.nodeId) return this.receive(request.sessionId, batch);
    await this.link.request(node, 'send', { sessionId: request.sessionId, batch }, this.options.forwardTimeoutMs);
  }

  /** The session closed: its handler learns it as from a closed socket; its last frames stay readable for a while. */
  closed(connection: HttpConnection): void {
    this.admission.closed(connection.remoteAddress);
    setImmediate(() => connection.handler?.onClose(connection.closedWith!.code));
    setTimeout(() => this.forget(connection), this.options.sessionTimeoutMs).unref();
  }

  expired(connection: HttpConnection): void {
    this.admission.closed(connection.remoteAddress);
    this.forget(connection);
    connection.handler?.onClose(1006);
  }

  /** Ends every stream and wait (sessions were closed by the gateway before), stops the heartbeat. */
  close(): void {
    clearInterval(this.heartbeat);
    for (const connection of this.sessions.values()) connection.dispose();
    for (const stream of this.relayed.values()) stream.reader.end();
    this.relayed.clear();
    this.link.close();
  }

  private checkOrigin(request: RealtimeRequest): void {
    if (!this.admission.originAllowed(request.origin, request.host)) throw new ParleyError('forbidden', 'origin not allowed');
  }

  private open(request: RealtimeRequest, transport: HttpTransportName): HttpConnection {
    const refused = this.admission.refusal(request);
    if (refused) throw refused;
    const id = `${this.options.nodeId}.${randomBytes(18).toString('base64url')}`;
    const connection = new HttpConnection(id, transport, request.remoteAddress, this, this.options.sessionTimeoutMs);
    this.sessions.set(id, connection);
    this.admission.opened(request.remoteAddress);
    connection.handler = this.accept(connection);
    return connection;
  }

  private openInfo(connection: HttpConnection): SessionOpen {
    const { pingIntervalMs, sessionTimeoutMs } = this.options;
    return { session: connection.id, pingIntervalMs, sessionTimeoutMs, transport: connection.transport };
  }

  private openStream(request: RealtimeRequest, format: StreamFormat): ReadableStream<Uint8Array> {
    const connection = this.open(request, format === 'sse' ? 'sse' : 'http-stream');
    const reader = new StreamReader(format, (stopped) => connection.detach(stopped));
    reader.write(openText(format, this.openInfo(connection)));
    reader.ping();
    connection.attach(reader, 0);
    return reader.body;
  }

  private openPoll(request: RealtimeRequest): string {
    const connection = this.open(request, 'long-poll');
    return pollBody([], undefined, this.openInfo(connection));
  }

  /** The session of this node named `sessionId`; `session_expired` when there is none (any more). */
  private local(sessionId: string): HttpConnection {
    const connection = this.sessions.get(sessionId);
    if (!connection) throw new ParleyError('session_expired', 'no such session (it expired, or its node restarted); open a new session and resume by seq');
    return connection;
  }

  private attachStream(connection: HttpConnection, after: number, format: StreamFormat): ReadableStream<Uint8Array> {
    const reader = new StreamReader(format, (stopped) => connection.detach(stopped));
    // A ping at once: a client tells a working stream by it (a buffering proxy holds it back).
    reader.ping();
    connection.attach(reader, after);
    return reader.body;
  }

  private pollLocal(sessionId: string, after: number, signal?: AbortSignal): Promise<string> {
    const connection = this.local(sessionId);
    const reader = new PollReader(this.options.pollTimeoutMs, POLL_GATHER_MS, (answered) => connection.detach(answered));
    connection.attach(reader, after);
    signal?.addEventListener('abort', () => reader.finish(), { once: true });
    return reader.answer;
  }

  private receive(sessionId: string, batch: RealtimeBatch): void {
    const connection = this.local(sessionId);
    const ended = connection.closedWith;
    if (ended) throw new ParleyError('session_expired', `the session closed (${ended.code} ${ended.reason}); open a new session and resume by seq`);
    connection.receive(batch);
  }

  /**
   * A stream of a session held by `node`: this node registers where the relay goes, asks the node to attach
   * it, and writes what comes to the client. Frames that come before the answer are kept by the stream.
   */
  private async relayFrom(node: string, sessionId: string, after: number, format: StreamFormat): Promise<ReadableStream<Uint8Array>> {
    const relay = randomBytes(12).toString('base64url');
    const reader = new StreamReader(format, () => {
      if (this.relayed.delete(relay)) this.link.notify(node, 'detach', { relay }).catch(() => undefined);
    });
    this.relayed.set(relay, { node, reader, position: after, lastHeardAt: Date.now() });
    reader.ping();
    try {
      await this.link.request(node, 'attach', { sessionId, after, relay }, this.options.forwardTimeoutMs);
    } catch (error) {
      this.relayed.delete(relay);
      throw error;
    }
    return reader.body;
  }

  /** A request forwarded by another node about a session of this one. */
  private async forwarded(op: string, payload: unknown, from: string): Promise<unknown> {
    if (op === 'send') {
      const { sessionId, batch } = parsePayload(sendSchema, payload);
      this.receive(sessionId, batch);
      return null;
    }
    if (op === 'poll') {
      const { sessionId, after } = parsePayload(pollSchema, payload);
      return this.pollLocal(sessionId, after);
    }
    if (op === 'attach') {
      const { sessionId, after, relay } = parsePayload(attachSchema, payload);
      this.attachRelay(this.local(sessionId), after, relay, from);
      return null;
    }
    throw new ParleyError('bad_request', `unknown operation ${op}`);
  }

  private attachRelay(connection: HttpConnection, after: number, relay: string, node: string): void {
    const reader = new RelayReader(relay, node, (source, item) => {
      this.link.notify(source.node, 'relay', { relay: source.relayId, item }).catch(() => connection.detach(source));
    });
    this.relays.set(relay, { reader, connection });
    connection.attach(reader, after);
  }

  /** One-way messages: keepalives and detaches of the streams relayed from here, relayed items for streams here. */
  private notice(op: string, payload: unknown, from: string): void {
    if (op === 'relay') {
      const parsed = relaySchema.safeParse(payload);
      if (!parsed.success) return;
      if (this.relayed.has(parsed.data.relay)) this.relayItem(parsed.data.relay, parsed.data.item);
      // A stream that ended here: its session's node stops relaying to it.
      else if (!('end' in parsed.data.item) && !('close' in parsed.data.item)) this.link.notify(from, 'detach', { relay: parsed.data.relay }).catch(() => undefined);
      return;
    }
    const parsed = relayIdSchema.safeParse(payload);
    if (!parsed.success) return;
    const relay = this.relays.get(parsed.data.relay);
    if (!relay) return;
    if (op === 'keepalive') relay.reader.lastKeepaliveAt = Date.now();
    else if (op === 'detach') {
      this.relays.delete(parsed.data.relay);
      relay.connection.detach(relay.reader);
    }
  }

  /** Writes a relayed item to its stream; a gap (a relay message lost) ends the stream, and the client re-attaches. */
  private relayItem(relay: string, item: RelayItem): void {
    const stream = this.relayed.get(relay)!;
    stream.lastHeardAt = Date.now();
    if ('frames' in item) {
      const fresh = item.frames.filter((frame) => frame.position > stream.position);
      if (fresh.length === 0) return;
      if (fresh[0]!.position !== stream.position + 1) return this.endRelayed(relay);
      stream.position = fresh.at(-1)!.position;
      stream.reader.deliver(fresh);
    } else if ('ping' in item) {
      stream.reader.ping();
    } else if ('close' in item) {
      this.relayed.delete(relay);
      stream.reader.closed(item.close);
    } else {
      this.endRelayed(relay);
    }
  }

  private endRelayed(relay: string): void {
    const stream = this.relayed.get(relay);
    if (!stream) return;
    this.relayed.delete(relay);
    stream.reader.end();
    this.link.notify(stream.node, 'detach', { relay }).catch(() => undefined);
  }

  /**
   * Every ping interval: pings the streams of this node's sessions, renews the relays this node serves (and
   * ends those whose node went silent), and drops the relays of this node's sessions whose node went silent.
   */
  private beat(): void {
    for (const connection of this.sessions.values()) connection.ping();
    const silentSince = Date.now() - this.options.pingIntervalMs - this.options.pingTimeoutMs;
    for (const [relay, stream] of this.relayed) {
      if (stream.lastHeardAt < silentSince) this.endRelayed(relay);
      else this.link.notify(stream.node, 'keepalive', { relay }).catch(() => undefined);
    }
    for (const [relay, { reader, connection }] of this.relays) {
      if (!connection.isReader(reader)) this.relays.delete(relay);
      else if (reader.lastKeepaliveAt < silentSince) {
        this.relays.delete(relay);
        connection.detach(reader);
      }
    }
  }

  private forget(connection: HttpConnection): void {
    if (this.sessions.get(connection.id) === connection) this.sessions.delete(connection.id);
  }
}

/** The node a session id names; `session_expired` for an id that no node gave out. */
function nodeOf(sessionId: string): string {
  const match = SESSION_ID.exec(sessionId);
  if (!match) throw new ParleyError('session_expired', 'unknown session; open a new session with GET /v1/rt/stream or /v1/rt/poll');
  return match[1]!;
}

function lastPositionOf(request: RealtimeRequest): number {
  if (request.lastPosition === undefined) throw new ParleyError('bad_request', 'send Parley-Last-Position: the last position received in this session (0 for none)');
  return request.lastPosition;
}

function parsePayload<T>(schema: z.ZodType<T>, payload: unknown): T {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) throw new ParleyError('bad_request', 'malformed forwarded request');
  return parsed.data;
}
