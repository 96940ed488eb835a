import {
  JSON_SUBPROTOCOL,
  operationArgsSchemas,
  requestFrameSchema,
  type Ack,
  type ConversationEvent,
  type ConversationView,
  type ErrorCode,
  type OperationArgs,
  type OperationName,
  type RequestId,
  type StaffEvent,
} from '@parley/protocol';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { FakeHttpTransports, type FakeLine } from './fake-http.js';

/** A request as the fake server received it (args as the client sent them, before defaults). */
export interface ReceivedRequest {
  connection: number;
  id: RequestId;
  op: OperationName;
  args: Record<string, unknown>;
}

/** Runs before the default handling; return true to take over the request (reply yourself, or never). */
export type Interceptor = (request: ReceivedRequest, connection: FakeConnection) => boolean | void;

const TENANT = 'acme';
const USER = 'alice';

/**
 * A scripted, in-memory Parley server on a random port: enough of protocol v1 (connect, token.refresh,
 * subscribe with since and staffSince, message.send and support.note with clientMsgId dedup, history, staff
 * history, ...) to test the client against, plus hooks to misbehave on purpose. It validates every client frame with the protocol schemas.
 */
export class FakeServer {
  readonly received: ReceivedRequest[] = [];
  readonly connections: FakeConnection[] = [];
  readonly conversations = new Map<string, ConversationView>();
  readonly logs = new Map<string, ConversationEvent[]>();
  /** Staff-only events per conversation (their own sequence, `staffSeq`). */
  readonly staffLogs = new Map<string, StaffEvent[]>();
  /** Lifetime of accepted tokens, for `expiresAt`. */
  tokenLifetimeMs = 3_600_000;
  /** The `pingIntervalMs` announced in connect replies (0: the client does not ping). */
  pingIntervalMs = 0;
  /** Tokens the server refuses with `unauthorized`. */
  readonly rejectedTokens = new Set<string>();
  intercept: Interceptor | undefined;
  /**
   * WebSocket upgrades as a network that blocks them treats them: `refuse` answers 403 (the client sees the
   * socket close at once), `hang` never answers (the client must time out). Undefined: upgrades work.
   */
  blockWebSockets: 'refuse' | 'hang' | undefined;
  /** The HTTP fallback endpoints (SSE, long-poll, send), with their own switches. */
  readonly http: FakeHttpTransports;
  /** WebSocket upgrade requests received, blocked or not (probes included). */
  upgrades = 0;
  private readonly acks = new Map<string, Ack>();
  private readonly noteAcks = new Map<string, { eventId: string; staffSeq: number; duplicate: boolean }>();
  private readonly hung = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
  ) {
    this.http = new FakeHttpTransports({ accept: (line) => this.acceptLine(line) });
    server.on('request', (request, response) => this.http.handle(request, response));
    server.on('upgrade', (request, socket: Socket, head) => {
      this.upgrades++;
      if (this.blockWebSockets === 'hang') return void this.hung.add(socket);
      if (this.blockWebSockets === 'refuse' || new URL(request.url ?? '/', 'http://fake').pathname !== '/v1/ws') {
        return void socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
      wss.handleUpgrade(request, socket, head, (webSocket) => this.accept(webSocket));
    });
  }

  static async start(): Promise<FakeServer> {
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has(JSON_SUBPROTOCOL) ? JSON_SUBPROTOCOL : false),
    });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new FakeServer(server, wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/ws`;
  }

  /** The requests received for one operation, in order. */
  requests(op: OperationName): ReceivedRequest[] {
    return this.received.filter((request) => request.op === op);
  }

  /** The newest connection that is still open. */
  get current(): FakeConnection {
    const open = this.connections.filter((connection) => !connection.closed);
    const last = open[open.length - 1];
    if (!last) throw new Error('no open connection');
    return last;
  }

  /** The stored events of a conversation. */
  log(conversationId: string): ConversationEvent[] {
    let log = this.logs.get(conversationId);
    if (!log) this.logs.set(conversationId, (log = []));
    return log;
  }

  /** Stores a new event with the next seq and pushes it to the subscribed connections (unless `push: false`). */
  append(conversationId: string, text: string, options: { clientMsgId?: string; push?: boolean } = {}): ConversationEvent {
    const causation = options.clientMsgId !== undefined ? { causation: { clientMsgId: options.clientMsgId } } : {};
    return this.appendEvent(conversationId, { type: 'message.created', data: { content: { type: 'text', text } }, ...causation }, options);
  }

  /** Stores (and pushes, unless `push` is false) an event of any type and data, as a server of any version might. */
  appendEvent(conversationId: string, fields: Pick<ConversationEvent, 'type' | 'data'> & Partial<ConversationEvent>, options: { push?: boolean } = {}): ConversationEvent {
    const log = this.log(conversationId);
    const seq = log.length + 1;
    const event: ConversationEvent = { id: `evt-${conversationId}-${seq}`, tenant: TENANT, conversation: conversationId, seq, ts: Date.now(), actor: { kind: 'user', id: USER }, ...fields };
    log.push(event);
    if (options.push !== false) this.publish(event);
    return event;
  }

  /** Pushes an event to every connection subscribed to its conversation. */
  publish(event: ConversationEvent): void {
    for (const connection of this.connections) {
      if (!connection.closed && connection.subscriptions.has(event.conversation)) connection.send({ push: 'event', event });
    }
  }

  /** The stored staff-only events of a conversation. */
  staffLog(conversationId: string): StaffEvent[] {
    let log = this.staffLogs.get(conversationId);
    if (!log) this.staffLogs.set(conversationId, (log = []));
    return log;
  }

  /** Stores a staff-only event with the next staff seq and pushes it to staff subscriptions (unless `push: false`). */
  appendStaff(conversationId: string, fields: Pick<StaffEvent, 'type' | 'data'> & Partial<StaffEvent>, options: { push?: boolean } = {}): StaffEvent {
    const log = this.staffLog(conversationId);
    const staffSeq = log.length + 1;
    const event: StaffEvent = {
      id: `staff-${conversationId}-${staffSeq}`,
      tenant: TENANT,
      conversation: conversationId,
      staffSeq,
      afterSeq: this.log(conversationId).length,
      ts: Date.now(),
      actor: { kind: 'agent', id: USER },
      ...fields,
    };
    log.push(event);
    if (options.push !== false) this.publishStaff(event);
    return event;
  }

  /** Pushes a staff event to every connection that subscribed to its conversation with `staffSince`. */
  publishStaff(event: StaffEvent): void {
    for (const connection of this.connections) {
      if (!connection.closed && connection.staffSubscriptions.has(event.conversation)) connection.send({ push: 'staffEvent', event });
    }
  }

  /** Stores a note once per clientMsgId, as a `note.created` staff event. */
  storeNote({ conversationId, clientMsgId, text }: OperationArgs<'support.note'>): { eventId: string; staffSeq: number; duplicate: boolean } {
    const key = `${conversationId}|${clientMsgId}`;
    const previous = this.noteAcks.get(key);
    if (previous) return { ...previous, duplicate: true };
    const event = this.appendStaff(conversationId, { type: 'note.created', data: { text }, causation: { clientMsgId } });
    const ack = { eventId: event.id, staffSeq: event.staffSeq, duplicate: false };
    this.noteAcks.set(key, ack);
    return ack;
  }

  /** Stores a message once per clientMsgId; a repeat returns the first ack with `duplicate: true`. */
  storeMessage(args: OperationArgs<'message.send'>): Ack {
    const key = `${args.conversationId}|${args.clientMsgId}`;
    const previous = this.acks.get(key);
    if (previous) return { ...previous, duplicate: true };
    const text = args.content.text ?? args.content.type;
    const event = this.append(args.conversationId, text, { clientMsgId: args.clientMsgId });
    const ack: Ack = { eventId: event.id, seq: event.seq, ts: event.ts, duplicate: false };
    this.acks.set(key, ack);
    return ack;
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.terminate();
    for (const socket of this.hung) socket.destroy();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: WebSocket): void {
    const connection = this.acceptLine(webSocketLine(socket)).connection;
    socket.on('message', (data, binary) => {
      if (binary) return connection.fail(null, 'bad_request', 'binary frames are not accepted');
      this.receive(connection, data.toString());
    });
  }

  private acceptLine(line: FakeLine): { connection: FakeConnection; receive(text: string): void } {
    const connection = new FakeConnection(this.connections.length, line);
    this.connections.push(connection);
    return { connection, receive: (text) => this.receive(connection, text) };
  }

  private receive(connection: FakeConnection, text: string): void {
    const frame = requestFrameSchema.safeParse(JSON.parse(text));
    if (!frame.success) return connection.fail(null, 'bad_request', `invalid frame: ${frame.error.message}`);
    const { id, op } = frame.data;
    if (!Object.hasOwn(operationArgsSchemas, op)) return connection.fail(id, 'bad_request', `unknown operation ${op}`);
    const rawArgs = (frame.data.args ?? {}) as Record<string, unknown>;
    const request: ReceivedRequest = { connection: connection.index, id, op: op as OperationName, args: rawArgs };
    this.received.push(request);
    const parsed = operationArgsSchemas[request.op].safeParse(rawArgs);
    if (!parsed.success) return connection.fail(id, 'bad_request', `invalid arguments for ${op}: ${parsed.error.message}`);
    if (this.intercept?.(request, connection) === true) return;
    if (op !== 'connect' && !connection.authenticated) return connection.fail(id, 'unauthorized', 'send connect first');
    this.execute(connection, id, request.op, parsed.data);
  }

  private execute(connection: FakeConnection, id: RequestId, op: OperationName, args: unknown): void {
    const reply = (result: unknown) => connection.reply(id, result);
    switch (op) {
      case 'connect':
      case 'token.refresh': {
        const { token } = args as { token: string };
        if (this.rejectedTokens.has(token)) return connection.fail(id, 'unauthorized', 'bad token');
        connection.authenticated = true;
        const expiresAt = Date.now() + this.tokenLifetimeMs;
        if (op === 'token.refresh') return reply({ expiresAt });
        return reply({
          sessionId: `session-${connection.index}`,
          principal: { tenant: TENANT, userId: USER, roles: ['user'] },
          expiresAt,
          protocol: 'v1',
          serverVersion: 'fake',
          pingIntervalMs: this.pingIntervalMs,
          limits: { maxFrameBytes: 65_536, ratePerSecond: 100, burst: 100 },
        });
      }
      case 'subscribe': {
        const { conversationId, since, staffSince } = args as OperationArgs<'subscribe'>;
        const log = this.log(conversationId);
        reply({ conversationId, headSeq: log.length });
        connection.subscriptions.add(conversationId);
        if (since !== undefined) for (const event of log.slice(since)) connection.send({ push: 'event', event });
        if (staffSince === undefined) return;
        connection.staffSubscriptions.add(conversationId);
        for (const event of this.staffLog(conversationId).slice(staffSince)) connection.send({ push: 'staffEvent', event });
        return;
      }
      case 'unsubscribe':
        connection.subscriptions.delete((args as OperationArgs<'unsubscribe'>).conversationId);
        connection.staffSubscriptions.delete((args as OperationArgs<'unsubscribe'>).conversationId);
        return reply({});
      case 'support.note':
        return reply(this.storeNote(args as OperationArgs<'support.note'>));
      case 'support.staffHistory': {
        const { conversationId, after, limit } = args as OperationArgs<'support.staffHistory'>;
        const matching = this.staffLog(conversationId).filter((event) => event.staffSeq > after);
        return reply({ events: matching.slice(0, limit), hasMore: matching.length > limit });
      }
      case 'message.send':
        return reply(this.storeMessage(args as OperationArgs<'message.send'>));
      case 'history':
        return reply(this.history(args as OperationArgs<'history'>));
      case 'conversation.open':
        return reply(this.open(args as OperationArgs<'conversation.open'>));
      case 'conversation.get': {
        const conversation = this.conversations.get((args as OperationArgs<'conversation.get'>).conversationId);
        return conversation ? reply({ conversation }) : connection.fail(id, 'not_found', 'no such conversation');
      }
      case 'typing':
        return reply({});
      case 'read':
        return reply({ seq: (args as OperationArgs<'read'>).seq, changed: true });
      case 'presence':
        return reply({ online: [{ userId: USER, connections: 1 }] });
      case 'ping':
        return reply({ ts: Date.now() });
    }
  }

  private history({ conversationId, after, before, limit }: OperationArgs<'history'>): { events: ConversationEvent[]; hasMore: boolean } {
    const matching = this.log(conversationId).filter((event) => (after === undefined || event.seq > after) && (before === undefined || event.seq < before));
    const events = after === undefined && before !== undefined ? matching.slice(-limit) : matching.slice(0, limit);
    return { events, hasMore: matching.length > events.length };
  }

  private open({ conversationId, members, metadata, assistant }: OperationArgs<'conversation.open'>): { conversation: ConversationView; created: boolean } {
    const id = conversationId ?? `conv-${this.conversations.size + 1}`;
    const existing = this.conversations.get(id);
    if (existing) return { conversation: existing, created: false };
    const conversation: ConversationView = { id, tenant: TENANT, members, memberCount: members.length, metadata, createdAt: Date.now(), createdBy: USER, lastSeq: 0, assistant: assistant ?? null };
    this.conversations.set(id, conversation);
    return { conversation, created: true };
  }
}

/** One client connection of the fake server. */
export class FakeConnection {
  readonly subscriptions = new Set<string>();
  /** Conversations this connection follows staff events of (subscribed with `staffSince`). */
  readonly staffSubscriptions = new Set<string>();
  authenticated = false;
  /** The close code received, once closed. */
  closeCode: number | null = null;

  constructor(
    readonly index: number,
    readonly line: FakeLine,
  ) {
    line.onClose((code) => (this.closeCode = code));
  }

  get closed(): boolean {
    return !this.line.open;
  }

  /** Sends any frame, valid or not. */
  send(frame: unknown): void {
    if (!this.closed) this.line.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  reply(id: RequestId, result: unknown): void {
    this.send({ id, result });
  }

  fail(id: RequestId | null, code: ErrorCode, message: string, retryAfterMs?: number): void {
    this.send({ id, error: { code, message, ...(retryAfterMs !== undefined && { retryAfterMs }) } });
  }

  /** Closes like the real server: a disconnect notice, then a close frame with `code`. */
  closeWith(code: number, reason: string): void {
    this.send({ push: 'disconnect', code, reason, reconnect: code < 4500 });
    this.line.close(code, reason);
  }

  /** Kills the TCP connection without a close frame (the client sees 1006); an HTTP session is forgotten (410 after). */
  terminate(): void {
    this.line.terminate();
  }
}

/** A ws WebSocket as a FakeLine. */
function webSocketLine(socket: WebSocket): FakeLine {
  return {
    get open() {
      return socket.readyState === socket.OPEN;
    },
    send: (text) => socket.send(text),
    close: (code, reason) => socket.close(code, reason),
    terminate: () => socket.terminate(),
    onClose: (listener) => void socket.on('close', (code) => listener(code)),
  };
}
