import {
  CLOSE_CODES,
  jsonCodec,
  parseEvent,
  parseSignal,
  type ParleyEvent,
  type Ack,
  type Codec,
  type Content,
  type Agent,
  type AgentStatus,
  type ConversationView,
  type InboxView,
  type OperationArgs,
  type OperationInput,
  type OperationName,
  type OperationResult,
} from '@parley/protocol';
import { parseArguments } from './arguments.js';
import { backoffDelay } from './backoff.js';
import { loadCodec } from './codecs.js';
import { Connection, type CloseInfo, type EventOrSignalFrame } from './connection.js';
import { Emitter, type Listener } from './emitter.js';
import { ParleyClientError, closeCodeError, closedError, disconnectedError, toClientError } from './errors.js';
import { ConversationFeed, type FeedHost } from './feed.js';
import { newClientMsgId } from './ids.js';
import {
  DEFAULT_BUFFER_SIZE,
  resolveOptions,
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  type ConnectResult,
  type HistoryOptions,
  type HistoryPage,
  type InboxOptions,
  type InboxPage,
  type NoteResult,
  type OpenOptions,
  type OpenResult,
  type PingResult,
  type PresenceResult,
  type ReadResult,
  type RenderedCannedReply,
  type ResolvedOptions,
  type SendOptions,
  type StaffHistoryOptions,
  type StaffHistoryPage,
  type SubscribeOptions,
  type SupportTransition,
  type TransferTarget,
} from './options.js';
import { Outbox } from './outbox.js';
import { parseStaffEvent, type ParleyStaffEvent } from './staff-events.js';
import type { Subscription } from './subscription.js';
import { fetchToken, refreshDelay } from './token.js';
import type { FetchFunction } from './http-socket.js';
import { PollSocket } from './poll-socket.js';
import { StreamSocket } from './stream-socket.js';
import { TRANSPORT_NAMES, TransportOrder, realtimeEndpoints, type RealtimeEndpoints, type TransportName } from './transports.js';
import { resolveWebSocket, type WebSocketConstructor, type WebSocketLike } from './websocket.js';
import { WebSocketProbe } from './websocket-probe.js';

/** How many times `note` sends a note again after a retryable failure (same clientMsgId: never stored twice). */
const NOTE_RETRIES = 3;

/** How the client introduces itself in `connect`. */
export const CLIENT_INFO = { name: '@parley/client', version: '0.1.0' } as const;

interface Waiter {
  resolve(connection: Connection): void;
  reject(error: ParleyClientError): void;
  timer: ReturnType<typeof setTimeout>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

/**
 * A Parley connection that stays up: reconnects with backoff, resumes subscriptions where they left off,
 * re-sends unacknowledged messages without duplicating them, and refreshes its token before it expires.
 */
export class ParleyClient {
  private readonly options: ResolvedOptions;
  private readonly WebSocket: WebSocketConstructor | undefined;
  private readonly fetch: FetchFunction | undefined;
  private readonly endpoints: RealtimeEndpoints | undefined;
  private readonly order: TransportOrder;
  private probe: WebSocketProbe | undefined;
  private currentTransport: TransportName | undefined;
  /** The transport of `this.connection`. */
  private connectionTransport: TransportName | undefined;
  /** The connection being opened by `openTransport`, whose failures that loop handles rather than `closedBy`. */
  private opening: Connection | undefined;
  private readonly emitter: Emitter<ClientEvents>;
  private readonly outbox: Outbox;
  private readonly feeds = new Map<string, ConversationFeed>();
  private readonly feedHost: FeedHost;
  private readonly waiters = new Set<Waiter>();
  private currentState: ClientState = 'idle';
  private currentSession: ConnectResult | undefined;
  /** The socket being opened or in use. */
  private connection: Connection | undefined;
  /** The same socket once `connect` succeeded on it. */
  private live: Connection | undefined;
  private connecting: Deferred<ConnectResult> | undefined;
  private attempt = 0;
  private connectedAt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private codec: Codec | undefined;

  constructor(options: ClientOptions) {
    this.options = resolveOptions(options);
    const available = availableTransports(options, this.options);
    this.WebSocket = available.WebSocket;
    this.fetch = available.fetch;
    this.endpoints = available.endpoints;
    this.order = new TransportOrder(available.transports);
    this.emitter = new Emitter<ClientEvents>((error, type) => this.listenerFailed(error, type));
    this.outbox = new Outbox({
      limit: this.options.outboxLimit,
      send: (args) => this.requestNow('message.send', args),
      retryDelay: (attempt) => this.retryDelay(attempt),
    });
    this.feedHost = {
      requestNow: (op, args) => this.requestNow(op, args),
      retryDelay: (attempt) => this.retryDelay(attempt),
      publish: (event) => this.emitter.emit('event', event),
      publishStaff: (event) => this.emitter.emit('staffEvent', event),
      report: (error) => this.report(error),
      release: (feed) => this.feeds.get(feed.conversationId) === feed && this.feeds.delete(feed.conversationId),
      onListenerError: (error, type) => this.listenerFailed(error, type),
    };
  }

  /** The connection state. */
  get state(): ClientState {
    return this.currentState;
  }

  /** The reply to the latest successful `connect`, if any. */
  get session(): ConnectResult | undefined {
    return this.currentSession;
  }

  /**
   * The transport of the latest connection that connected (`websocket`, `sse` or `long-poll`); undefined
   * before the first. The `transport` event tells when it changes.
   */
  get transport(): TransportName | undefined {
    return this.currentTransport;
  }

  /** How many sent messages still wait for an ack. */
  get pendingMessages(): number {
    return this.outbox.size;
  }

  /** Adds a listener; returns a function that removes it. */
  on<Type extends keyof ClientEvents>(type: Type, listener: Listener<ClientEvents[Type]>): () => void {
    return this.emitter.on(type, listener);
  }

  /** Removes a listener added with `on`. */
  off<Type extends keyof ClientEvents>(type: Type, listener: Listener<ClientEvents[Type]>): void {
    this.emitter.off(type, listener);
  }

  /**
   * Connects; resolves with the `connect` reply. Transient failures are retried with backoff, so this
   * rejects only on a final failure (bad token, a close code that forbids reconnecting) or `close()`.
   */
  connect(): Promise<ConnectResult> {
    if (this.currentState === 'closed') return Promise.reject(closedError());
    if (this.live && this.currentSession) return Promise.resolve(this.currentSession);
    this.connecting ??= deferred<ConnectResult>();
    if (this.currentState === 'idle') {
      this.setState('connecting');
      void this.establish();
    }
    return this.connecting.promise;
  }

  /** Closes for good: no reconnect; pending requests, unsent messages and subscriptions end with `closed`. */
  close(): void {
    this.shutdown(closedError('the client was closed'));
  }

  /**
   * Sends a message; resolves with its ack once the server stored it. Kept in the outbox until then:
   * re-sent with the same clientMsgId after reconnects and retryable errors, rejected on other errors.
   */
  send(conversationId: string, content: string | Content, options: SendOptions = {}): Promise<Ack> {
    if (this.currentState === 'closed') return Promise.reject(closedError());
    try {
      const args = parseArguments('message.send', {
        conversationId,
        clientMsgId: options.clientMsgId ?? newClientMsgId(),
        content: typeof content === 'string' ? { type: 'text', text: content } : content,
        ...(options.replyTo !== undefined && { replyTo: options.replyTo }),
      });
      return this.outbox.enqueue(args);
    } catch (error) {
      return Promise.reject(toClientError(error));
    }
  }

  /**
   * Follows a conversation's events (and signals) from `since`, across reconnects. Throws `conflict` if
   * this client already follows it (reuse that Subscription), `bad_request` on invalid arguments.
   */
  subscribe(conversationId: string, options: SubscribeOptions = {}): Subscription {
    if (this.currentState === 'closed') throw closedError();
    const input: OperationInput<'subscribe'> = { conversationId };
    if (options.since !== undefined) input.since = options.since;
    if (options.staff === true) input.staffSince = options.staffSince ?? 0;
    else if (options.staffSince !== undefined) throw new ParleyClientError('bad_request', 'staffSince needs staff: true');
    const { since, staffSince } = parseArguments('subscribe', input);
    if (this.feeds.has(conversationId)) {
      throw new ParleyClientError('conflict', `already subscribed to ${conversationId}: reuse that Subscription or unsubscribe first`);
    }
    const feed = new ConversationFeed(conversationId, { since, staffSince, bufferSize: options.bufferSize ?? DEFAULT_BUFFER_SIZE }, this.feedHost);
    this.feeds.set(conversationId, feed);
    if (this.live) feed.activate();
    return feed.subscription;
  }

  /** Opens a conversation: creates it, or returns the existing one with that id. */
  open(options: OpenOptions = {}): Promise<OpenResult> {
    return this.call('conversation.open', options);
  }

  /** A conversation's members, metadata and last seq. */
  async getConversation(conversationId: string): Promise<ConversationView> {
    return (await this.call('conversation.get', { conversationId })).conversation;
  }

  /** This user's conversations, most recently active first, with read markers and unread counts; pass `nextCursor` for the next page. */
  listConversations(options: OperationInput<'conversation.list'> = {}): Promise<OperationResult<'conversation.list'>> {
    return this.call('conversation.list', options);
  }

  /** Merges `metadata` into the conversation's (a null value deletes a key); creator, agents and admins only. */
  updateConversation(conversationId: string, metadata: Record<string, unknown>): Promise<OperationResult<'conversation.update'>> {
    return this.call('conversation.update', { conversationId, metadata: metadata as OperationInput<'conversation.update'>['metadata'] });
  }

  /** Adds members (no cap on a conversation's size; at most 1,000 per call). */
  addMembers(conversationId: string, userIds: string[]): Promise<OperationResult<'members.add'>> {
    return this.call('members.add', { conversationId, userIds });
  }

  /** Removes members (or this user itself: leaving); their subscriptions end at once on every node. */
  removeMembers(conversationId: string, userIds: string[]): Promise<OperationResult<'members.remove'>> {
    return this.call('members.remove', { conversationId, userIds });
  }

  /** A page of the conversation's members, by user id. */
  listMembers(conversationId: string, options: { cursor?: string; limit?: number } = {}): Promise<OperationResult<'members.list'>> {
    return this.call('members.list', { conversationId, ...options });
  }

  /** A page of stored events, typed by the catalogue; `after` and `before` are exclusive seq bounds. */
  async history(conversationId: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    const page = await this.call('history', { conversationId, ...options });
    const events: ParleyEvent[] = [];
    for (const event of page.events) {
      const parsed = parseEvent(event);
      if (parsed.ok) events.push(parsed.event);
      else this.report(parsed.error);
    }
    return { events, hasMore: page.hasMore };
  }

  /** Tells the conversation this user is typing (or stopped). */
  async typing(conversationId: string, active: boolean): Promise<void> {
    await this.call('typing', { conversationId, active });
  }

  /** Marks the conversation read up to `seq`. */
  markRead(conversationId: string, seq: number): Promise<ReadResult> {
    return this.call('read', { conversationId, seq });
  }

  /** Who is online in the conversation. */
  presence(conversationId: string): Promise<PresenceResult> {
    return this.call('presence', { conversationId });
  }

  /** Stops the conversation's running AI answer (only `generationId`, if given); resolves with the ids stopped. */
  async stopGeneration(conversationId: string, generationId?: string): Promise<string[]> {
    const result = await this.call('ai.stop', generationId === undefined ? { conversationId } : { conversationId, generationId });
    return result.stopped;
  }

  /** Approves or denies a tool call that waits for approval (`ai.approval_requested`); the first decision wins. */
  approveTool(conversationId: string, approvalId: string, approved: boolean): Promise<OperationResult<'ai.approve'>> {
    return this.call('ai.approve', { conversationId, approvalId, approved });
  }

  /** A round trip to the server. */
  ping(): Promise<PingResult> {
    return this.call('ping', {});
  }

  // ---- support desk ------------------------------------------------------------------------------------

  /** Asks for a person: the conversation leaves the assistant and waits in a queue. */
  handoff(conversationId: string, detail?: string): Promise<SupportTransition> {
    return this.call('support.handoff', detail === undefined ? { conversationId } : { conversationId, detail });
  }

  /** Takes a queued conversation (or accepts one routing assigned to this agent). */
  claim(conversationId: string): Promise<OperationResult<'support.claim'>> {
    return this.call('support.claim', { conversationId });
  }

  /** Assigns the conversation to an agent; with `expectedAgentId`, only if that is still the assignee (else `conflict`). */
  assign(conversationId: string, agentId: string, expectedAgentId?: string | null): Promise<SupportTransition> {
    return this.call('support.assign', expectedAgentId === undefined ? { conversationId, agentId } : { conversationId, agentId, expectedAgentId });
  }

  /** Moves the conversation to another agent or to a team's queue. */
  transfer(conversationId: string, target: TransferTarget): Promise<SupportTransition> {
    return this.call('support.transfer', { conversationId, ...target });
  }

  /**
   * Leaves a private note that only staff see. Sent again on retryable failures with the same clientMsgId, so
   * it is stored once; pass your own `clientMsgId` to make a later re-send idempotent too.
   */
  async note(conversationId: string, text: string, clientMsgId: string = newClientMsgId()): Promise<NoteResult> {
    const args = { conversationId, clientMsgId, text };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.call('support.note', args);
      } catch (error) {
        const failure = toClientError(error);
        if (!failure.retryable || attempt >= NOTE_RETRIES || this.currentState === 'closed') throw failure;
        await sleep(failure.retryAfterMs ?? this.retryDelay(attempt));
      }
    }
  }

  /** Marks the conversation resolved; the customer is asked for a rating. */
  resolve(conversationId: string): Promise<SupportTransition> {
    return this.call('support.resolve', { conversationId });
  }

  /** Reopens a resolved conversation to the agent. */
  reopen(conversationId: string): Promise<SupportTransition> {
    return this.call('support.reopen', { conversationId });
  }

  /** Hands the conversation back to the assistant, which answers again from the next message. */
  handBack(conversationId: string): Promise<SupportTransition> {
    return this.call('support.handBack', { conversationId });
  }

  /** Closes the conversation for good (not to be confused with `close()`, which closes this client). */
  closeConversation(conversationId: string): Promise<SupportTransition> {
    return this.call('support.close', { conversationId });
  }

  /** The customer rates the latest resolution, 1 to 5, with an optional comment; once per resolution. */
  rate(conversationId: string, rating: number, comment?: string): Promise<OperationResult<'support.rate'>> {
    return this.call('support.rate', comment === undefined ? { conversationId, rating } : { conversationId, rating, comment });
  }

  /** A page of the conversation's staff-only events after the staff seq `after`, ascending, typed by the catalogue. */
  async staffHistory(conversationId: string, options: StaffHistoryOptions = {}): Promise<StaffHistoryPage> {
    const page = await this.call('support.staffHistory', { conversationId, ...options });
    const events: ParleyStaffEvent[] = [];
    for (const event of page.events) {
      const parsed = parseStaffEvent(event);
      if (parsed.ok) events.push(parsed.event);
      else this.report(parsed.error);
    }
    return { events, hasMore: page.hasMore };
  }

  /** A page of this agent's inbox (queue, mine, team, all), with the count of every view. */
  inbox(view: InboxView, options: InboxOptions = {}): Promise<InboxPage> {
    return this.call('support.inbox', { view, ...options });
  }

  /** The canned replies this agent may use, with their variables filled in for `conversationId` if given. */
  async cannedReplies(conversationId?: string): Promise<RenderedCannedReply[]> {
    return (await this.call('support.canned', conversationId === undefined ? {} : { conversationId })).replies;
  }

  /** Sets this agent's status (online, away, offline); resolves with the agent as the server now sees it. */
  async setAgentStatus(status: AgentStatus): Promise<Agent> {
    return (await this.call('agent.status', { status })).agent;
  }

  /** Tells the other agents that this one has the conversation open (or closed it): "Sam is viewing". */
  async viewing(conversationId: string, active: boolean): Promise<void> {
    await this.call('agent.viewing', { conversationId, active });
  }

  // ---- requests -------------------------------------------------------------------------------------

  /** Validates, waits for a connection if needed, sends; the whole request times out after requestTimeoutMs. */
  private async call<Op extends OperationName>(op: Op, input: OperationInput<Op>): Promise<OperationResult<Op>> {
    const args = parseArguments(op, input);
    const deadline = Date.now() + this.options.requestTimeoutMs;
    const connection = await this.waitForConnection(op, deadline);
    return connection.request(op, args, Math.max(1, deadline - Date.now()));
  }

  private requestNow<Op extends OperationName>(op: Op, args: OperationArgs<Op>): Promise<OperationResult<Op>> | undefined {
    return this.live?.request(op, args, this.options.requestTimeoutMs);
  }

  private waitForConnection(op: OperationName, deadline: number): Promise<Connection> {
    if (this.currentState === 'closed') return Promise.reject(closedError());
    if (this.live) return Promise.resolve(this.live);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new ParleyClientError('timeout', `${op} timed out waiting for a connection`));
        }, deadline - Date.now()),
      };
      this.waiters.add(waiter);
    });
  }

  private settleWaiters(outcome: { connection: Connection } | { error: ParleyClientError }): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      if ('connection' in outcome) waiter.resolve(outcome.connection);
      else waiter.reject(outcome.error);
    }
  }

  // ---- connection lifecycle ---------------------------------------------------------------------------

  /** One connection attempt: token, socket, `connect` request. Failures lead to a reconnect or to `closed`. */
  private async establish(): Promise<void> {
    this.reconnectTimer = undefined;
    const codec = await this.resolveCodec();
    if (codec === undefined) return;
    const token = await this.attemptToken();
    if (token === undefined || this.currentState === 'closed') return;
    const connection = await this.openTransport(codec);
    if (this.isClosed()) return;
    if (!connection) {
      this.order.failed();
      return this.attemptFailed(disconnectedError(`no transport could reach ${this.options.url} (tried ${this.order.transports.join(', ')})`));
    }
    try {
      const session = await connection.request('connect', { token, client: CLIENT_INFO }, this.options.requestTimeoutMs);
      if (connection === this.connection) this.connected(connection, session);
    } catch (error) {
      // When the socket closed, `closedBy` has handled it already and `this.connection` moved on.
      if (connection === this.connection) this.handshakeFailed(connection, toClientError(error));
    }
  }

  /** The codec of the `codec` option, loaded once; undefined (and the client closed) when it cannot be loaded. */
  private async resolveCodec(): Promise<Codec | undefined> {
    try {
      this.codec ??= await loadCodec(this.options.codec);
      return this.codec;
    } catch (error) {
      // A module that failed to load stays failed for the page's life: retrying would not help.
      this.fail(new ParleyClientError('bad_request', `cannot load the ${this.options.codec} codec`, { cause: error }));
      return undefined;
    }
  }

  /** The token for a connection attempt; undefined (and the failure handled) when the provider failed. */
  private async attemptToken(): Promise<string | undefined> {
    try {
      return await fetchToken(this.options.token);
    } catch (error) {
      if (this.currentState !== 'closed') this.attemptFailed(toClientError(error));
      return undefined;
    }
  }

  private handshakeFailed(connection: Connection, error: ParleyClientError): void {
    connection.close(1000, 'connect failed', error);
    this.connection = undefined;
    this.attemptFailed(error);
  }

  /**
   * Opens a connection over the first transport that opens in time, from the one that worked last down the
   * list; undefined when none did (or the client was closed meanwhile).
   */
  private async openTransport(codec: Codec): Promise<Connection | undefined> {
    for (const transport of this.order.attempt()) {
      let connection: Connection;
      try {
        connection = this.openSocket(transport, codec);
      } catch (error) {
        // Only a URL the runtime refuses makes a socket's constructor throw: trying again would not help.
        this.fail(new ParleyClientError('bad_request', `cannot open ${transport} to ${this.options.url}`, { cause: error }));
        return undefined;
      }
      this.connection = connection;
      this.connectionTransport = transport;
      this.opening = connection;
      const opened = await openedWithin(connection, this.openTimeout(transport));
      if (this.opening === connection) this.opening = undefined;
      if (this.connection !== connection) return undefined;
      if (opened) {
        this.order.opened(transport);
        return connection;
      }
      this.connection = undefined;
      connection.close(1000, 'fallback', disconnectedError(`${transport} did not open in time`));
    }
    return undefined;
  }

  private openTimeout(transport: TransportName): number {
    if (transport === 'websocket') return this.options.webSocketTimeoutMs;
    if (transport === 'sse') return this.options.streamTimeoutMs;
    return this.options.requestTimeoutMs;
  }

  private openSocket(transport: TransportName, codec: Codec): Connection {
    const socket = this.createSocket(transport, codec);
    // The HTTP transports carry JSON whatever the codec option says.
    const connection: Connection = new Connection(socket, transport === 'websocket' ? codec : jsonCodec, {
      push: (frame) => this.pushed(frame),
      close: (info) => this.closedBy(connection, info),
      error: (error) => this.report(error),
    });
    return connection;
  }

  private createSocket(transport: TransportName, codec: Codec): WebSocketLike {
    if (transport === 'websocket') return new this.WebSocket!(this.options.url, codec.subprotocol);
    const options = { endpoints: this.endpoints!, fetch: this.fetch! };
    return transport === 'sse' ? new StreamSocket(options) : new PollSocket(options);
  }

  /** Reports a new transport, and probes for a WebSocket while on a fallback. */
  private transportConnected(transport: TransportName): void {
    if (transport !== this.currentTransport) {
      this.currentTransport = transport;
      this.emitter.emit('transport', transport);
    }
    if (transport === 'websocket') return this.stopProbe();
    if (this.order.transports[0] === 'websocket' && !this.probe && this.WebSocket) {
      this.probe = new WebSocketProbe({
        WebSocket: this.WebSocket,
        url: this.options.url,
        subprotocol: (this.codec ?? jsonCodec).subprotocol,
        intervalMs: this.options.probeIntervalMs,
        timeoutMs: this.options.webSocketTimeoutMs,
        onOpen: () => void this.returnToWebSocket(),
      });
    }
  }

  private stopProbe(): void {
    this.probe?.stop();
    this.probe = undefined;
  }

  /**
   * A probe opened a WebSocket: once the fallback connection has no request in flight (so that no call fails
   * for the switch), it is closed and the client reconnects from the top of the list, resuming as after any
   * reconnect. Messages in the outbox are re-sent with their clientMsgId; subscriptions resume by seq.
   */
  private async returnToWebSocket(): Promise<void> {
    this.probe = undefined;
    this.order.restart();
    const connection = this.live;
    if (!connection) return; // reconnecting already: the next attempt starts with a WebSocket
    await connection.idle(this.options.requestTimeoutMs);
    if (connection !== this.live) return;
    this.detach();
    connection.close(1000, 'moving to a WebSocket', disconnectedError('the client moved to a WebSocket'));
    this.setState('reconnecting');
    if (this.currentState === 'reconnecting') void this.establish();
  }

  private connected(connection: Connection, session: ConnectResult): void {
    this.live = connection;
    this.currentSession = session;
    if (this.connectionTransport) this.transportConnected(this.connectionTransport);
    this.connectedAt = Date.now();
    connection.startHeartbeat(session.pingIntervalMs, this.options.requestTimeoutMs);
    this.scheduleRefresh(connection, session.expiresAt);
    // Resume subscriptions before re-sending messages, so their frames go out in that order.
    for (const feed of [...this.feeds.values()]) feed.activate();
    this.outbox.flush();
    this.setState('connected');
    if (this.live !== connection) return; // a state listener closed the client
    this.settleWaiters({ connection });
    const connecting = this.connecting;
    this.connecting = undefined;
    connecting?.resolve(session);
  }

  private attemptFailed(error: ParleyClientError): void {
    if (!error.retryable) return this.fail(error);
    this.report(error);
    this.scheduleReconnect();
  }

  private closedBy(connection: Connection, info: CloseInfo): void {
    if (connection !== this.connection || connection === this.opening) return;
    this.detach();
    if (!info.reconnect) return this.fail(closeCodeError(info.code, info.reason));
    if (info.code === CLOSE_CODES.tokenExpired && typeof this.options.token === 'string') {
      return this.fail(new ParleyClientError('unauthorized', 'the token expired and no token provider was given', { closeCode: info.code }));
    }
    this.scheduleReconnect();
  }

  /** Forgets the current socket (already closed) and everything tied to it. */
  private detach(): void {
    // A connection that stayed up a while resets the backoff; one that drops at once keeps it growing.
    if (this.live && Date.now() - this.connectedAt >= this.options.reconnect.maxDelayMs) this.attempt = 0;
    this.connection = undefined;
    this.live = undefined;
    this.clearTimer('refreshTimer');
    for (const feed of this.feeds.values()) feed.suspend();
  }

  private scheduleReconnect(): void {
    this.setState('reconnecting');
    if (this.currentState !== 'reconnecting') return; // a state listener closed the client
    const delay = this.retryDelay(this.attempt++);
    this.reconnectTimer = setTimeout(() => void this.establish(), delay);
  }

  private retryDelay(attempt: number): number {
    return backoffDelay(attempt, this.options.reconnect);
  }

  private scheduleRefresh(connection: Connection, expiresAt: number): void {
    this.clearTimer('refreshTimer');
    // A fixed token cannot be refreshed: at expiry the server closes with 4003 and the client stops.
    if (typeof this.options.token === 'string' || expiresAt <= Date.now()) return;
    this.refreshTimer = setTimeout(() => void this.refresh(connection, expiresAt), refreshDelay(expiresAt, Date.now()));
  }

  /** Replaces the token on the open connection. On failure, tries again at 80% of the time left. */
  private async refresh(connection: Connection, expiresAt: number): Promise<void> {
    this.refreshTimer = undefined;
    try {
      const token = await fetchToken(this.options.token);
      if (connection !== this.live) return;
      const result = await connection.request('token.refresh', { token }, this.options.requestTimeoutMs);
      if (connection === this.live) this.scheduleRefresh(connection, result.expiresAt);
    } catch (error) {
      if (connection !== this.live) return;
      this.report(toClientError(error));
      this.scheduleRefresh(connection, expiresAt);
    }
  }

  private pushed(frame: EventOrSignalFrame): void {
    switch (frame.push) {
      case 'event':
        return this.feeds.get(frame.event.conversation)?.receive(frame.event);
      case 'staffEvent':
        return this.feeds.get(frame.event.conversation)?.receiveStaff(frame.event);
      case 'notification':
        return this.emitter.emit('notification', frame.notification);
      case 'unsubscribed': {
        // Access was taken away: the subscription ends for good (no resubscribe on reconnect).
        const error = new ParleyClientError(frame.code === 'forbidden' ? 'forbidden' : 'not_found', frame.reason);
        return this.feeds.get(frame.conversationId)?.end(error);
      }
      case 'signal': {
        const parsed = parseSignal(frame.signal);
        if (!parsed.ok) return this.report(parsed.error);
        this.feeds.get(frame.signal.conversation)?.receiveSignal(parsed.signal);
        return this.emitter.emit('signal', parsed.signal);
      }
    }
  }

  /** Reports a final failure, then shuts down. */
  private fail(error: ParleyClientError): void {
    this.report(error);
    this.shutdown(error);
  }

  private shutdown(error: ParleyClientError): void {
    if (this.currentState === 'closed') return;
    this.currentState = 'closed';
    this.clearTimer('reconnectTimer');
    this.clearTimer('refreshTimer');
    this.stopProbe();
    const connection = this.connection;
    this.connection = undefined;
    this.live = undefined;
    this.settleWaiters({ error });
    this.outbox.rejectAll(error);
    connection?.close(1000, 'client closed', error);
    const failure = error.code === 'closed' && error.closeCode === undefined ? undefined : error;
    for (const feed of [...this.feeds.values()]) feed.end(failure);
    this.connecting?.reject(error);
    this.connecting = undefined;
    this.emitter.emit('state', 'closed');
  }

  // A method, so that TypeScript does not narrow the state across an await.
  private isClosed(): boolean {
    return this.currentState === 'closed';
  }

  private setState(state: ClientState): void {
    if (this.currentState === state || this.currentState === 'closed') return;
    this.currentState = state;
    this.emitter.emit('state', state);
  }

  private clearTimer(name: 'reconnectTimer' | 'refreshTimer'): void {
    const timer = this[name];
    if (timer !== undefined) clearTimeout(timer);
    this[name] = undefined;
  }

  private report(error: Error): void {
    this.emitter.emit('error', error);
  }

  // An application listener threw. Report it as an 'error'; if nobody listens (or an 'error' listener
  // threw), rethrow it outside the client so it is not lost, as the runtime does for any uncaught error.
  private listenerFailed(error: unknown, type: PropertyKey): void {
    if (type !== 'error' && this.emitter.listenerCount('error') > 0) {
      this.report(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    queueMicrotask(() => {
      throw error;
    });
  }
}

/** Whether the connection opened within `timeoutMs` (false when it closed first). */
function openedWithin(connection: Connection, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  const opened = connection.opened.then(
    () => true,
    () => false,
  );
  return Promise.race([opened, timeout]).finally(() => clearTimeout(timer));
}

interface AvailableTransports {
  transports: TransportName[];
  WebSocket: WebSocketConstructor | undefined;
  fetch: FetchFunction | undefined;
  endpoints: RealtimeEndpoints | undefined;
}

/**
 * The transports this runtime can use, from the option's list: WebSocket needs a WebSocket class, the HTTP
 * transports need fetch and a URL ending in /ws. Throws `bad_request` when none is left, or when a transport
 * named explicitly cannot be used for its URL.
 */
function availableTransports(given: ClientOptions, options: ResolvedOptions): AvailableTransports {
  const fetchFunction = given.fetch ?? (globalThis as { fetch?: FetchFunction }).fetch?.bind(globalThis);
  const webSocket = attempt(() => resolveWebSocket(given.WebSocket));
  const endpoints = attempt(() => realtimeEndpoints(options.url));
  // A list the application chose must work as chosen; the default list keeps what works here.
  if (given.transports && options.transports.some((name) => name !== 'websocket') && endpoints.error) throw endpoints.error;
  const transports = options.transports.filter((name) => (name === 'websocket' ? webSocket.value : fetchFunction && endpoints.value));
  if (transports.length === 0) {
    // The HTTP transports were refused for their URL above, so what is missing is a WebSocket class or fetch.
    if (webSocket.error) throw webSocket.error;
    throw new ParleyClientError('bad_request', `none of the transports ${options.transports.join(', ')} can run here: ${TRANSPORT_NAMES.filter((name) => name !== 'websocket').join(' and ')} need fetch`);
  }
  return { transports, WebSocket: webSocket.value, fetch: fetchFunction, endpoints: endpoints.value };
}

/** The value `make` returns, or the error it throws. */
function attempt<T>(make: () => T): { value?: T; error?: unknown } {
  try {
    return { value: make() };
  } catch (error) {
    return { error };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function deferred<T>(): Deferred<T> {
  let settle = { resolve: (_value: T) => {}, reject: (_error: Error) => {} };
  const promise = new Promise<T>((resolve, reject) => (settle = { resolve, reject }));
  return { promise, ...settle };
}
