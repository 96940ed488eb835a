import {
  CLOSE_CODES,
  CodecError,
  operationResultSchemas,
  pushFrameSchema,
  replyFrameSchema,
  shouldReconnect,
  type OperationArgs,
  type OperationName,
  type OperationResult,
  type Codec,
  type PushFrame,
} from '@parley/protocol';
import { frameData } from './codecs.js';
import { ParleyClientError, disconnectedError } from './errors.js';
import { WEBSOCKET_OPEN, type WebSocketLike } from './websocket.js';

/** How a connection ended, as far as the client can tell, and whether to reconnect. */
export interface CloseInfo {
  code: number;
  reason: string;
  reconnect: boolean;
}

/** What a Connection reports to its owner. */
export interface ConnectionHandlers {
  /** A durable event or an ephemeral signal (disconnect notices are folded into `close`). */
  push(frame: EventOrSignalFrame): void;
  /** The socket closed or was found dead; called once, and never after `close()`. */
  close(info: CloseInfo): void;
  /** A malformed frame or an error reply that answers no request; the connection carries on. */
  error(error: ParleyClientError): void;
}

/** A push frame that carries an event or a signal. */
export type EventOrSignalFrame = Exclude<PushFrame, { push: 'disconnect' }>;

type DisconnectNotice = Extract<PushFrame, { push: 'disconnect' }>;

interface PendingRequest {
  op: OperationName;
  resolve(result: unknown): void;
  reject(error: ParleyClientError): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One WebSocket from open to close: sends requests and matches replies by id, validates every incoming
 * frame, and pings when the line has been quiet so that a dead connection is noticed.
 */
export class Connection {
  /** Resolves when the socket is open; rejects if it closes first. */
  readonly opened: Promise<void>;
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  private notice: DisconnectNotice | undefined;
  private lastFrameAt = Date.now();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private rejectOpened: (error: ParleyClientError) => void = () => {};
  /** Callers of `idle`, told when the last pending request settles or the connection ends. */
  private readonly idleWaiters = new Set<() => void>();
  private done = false;

  constructor(
    private readonly socket: WebSocketLike,
    private readonly codec: Codec,
    private readonly handlers: ConnectionHandlers,
  ) {
    // Binary frames as ArrayBuffers everywhere: browsers would hand over Blobs, which cannot be read at once.
    socket.binaryType = 'arraybuffer';
    this.opened = new Promise<void>((resolve, reject) => {
      this.rejectOpened = reject;
      socket.onopen = () => resolve();
    });
    this.opened.catch(() => {});
    socket.onmessage = (event: { data: unknown }) => this.guard(() => this.receive(event.data));
    socket.onclose = (event: { code: number; reason: string }) => this.guard(() => this.closed(event.code, event.reason));
    // A close event always follows an error event; this listener also keeps `ws` from throwing on 'error'.
    socket.onerror = () => {};
  }

  /** Sends one request; settles with its validated result, or rejects with timeout, disconnected or the server's error. */
  request<Op extends OperationName>(op: Op, args: OperationArgs<Op>, timeoutMs: number): Promise<OperationResult<Op>> {
    if (this.done || this.socket.readyState !== WEBSOCKET_OPEN) return Promise.reject(disconnectedError('not connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        if (this.pending.size === 0) this.notifyIdle();
        reject(new ParleyClientError('timeout', `no reply to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { op, resolve: resolve as (result: unknown) => void, reject, timer });
      try {
        this.socket.send(this.codec.encode({ id, op, args }));
      } catch (error) {
        this.settle(id)?.reject(new ParleyClientError('disconnected', `could not send ${op}`, { cause: error }));
      }
    });
  }

  /** Resolves once no request waits for a reply, or after `timeoutMs`, or when the connection ends. */
  idle(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0 || this.done) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(settle, timeoutMs);
      const waiter = () => settle();
      const idleWaiters = this.idleWaiters;
      function settle(): void {
        clearTimeout(timer);
        idleWaiters.delete(waiter);
        resolve();
      }
      idleWaiters.add(waiter);
    });
  }

  /** Pings whenever nothing has arrived for `intervalMs`; a ping left unanswered for `timeoutMs` drops the connection. */
  startHeartbeat(intervalMs: number, timeoutMs: number): void {
    if (intervalMs <= 0 || this.done) return;
    this.heartbeat = setInterval(() => this.beat(intervalMs, timeoutMs), intervalMs);
  }

  /** Closes on the owner's behalf: rejects pending requests with `error` and does not call `handlers.close`. */
  close(code: number, reason: string, error: ParleyClientError): void {
    if (this.done) return;
    this.finish(error);
    try {
      this.socket.close(code, reason);
    } catch {
      // Already closing: nothing left to do.
    }
  }

  private beat(intervalMs: number, timeoutMs: number): void {
    if (Date.now() - this.lastFrameAt < intervalMs) return;
    this.request('ping', {}, timeoutMs).catch((error: ParleyClientError) => {
      if (error.code !== 'timeout' || this.done) return;
      // Not 1000: the connection was lost, not left, and the server treats it so (presence grace).
      this.close(CLOSE_CODES.heartbeatTimeout, 'heartbeat timeout', disconnectedError('the connection stopped answering'));
      this.handlers.close({ code: CLOSE_CODES.heartbeatTimeout, reason: 'no reply to ping', reconnect: true });
    });
  }

  private receive(raw: unknown): void {
    if (this.done) return;
    this.lastFrameAt = Date.now();
    const data = frameData(raw);
    if (data === undefined) return this.malformed('a frame arrived in a form the client cannot read (binaryType must stay "arraybuffer")');
    const binary = typeof data !== 'string';
    if (binary !== this.codec.binary) return this.malformed(`a ${binary ? 'binary' : 'text'} frame arrived on a ${this.codec.name} connection`);
    let frame: unknown;
    try {
      frame = this.codec.decode(data);
    } catch (error) {
      return this.malformed(`a frame is not valid ${this.codec.name}${error instanceof CodecError ? `: ${error.message}` : ''}`);
    }
    if (typeof frame === 'object' && frame !== null && 'push' in frame) return this.receivePush(frame);
    this.receiveReply(frame);
  }

  private receivePush(frame: object): void {
    const parsed = pushFrameSchema.safeParse(frame);
    if (!parsed.success) return this.malformed(`invalid push frame: ${parsed.error.message}`);
    if (parsed.data.push === 'disconnect') this.notice = parsed.data;
    else this.handlers.push(parsed.data);
  }

  private receiveReply(frame: unknown): void {
    const parsed = replyFrameSchema.safeParse(frame);
    if (!parsed.success) return this.malformedReply(frame, parsed.error.message);
    const reply = parsed.data;
    if ('error' in reply) {
      const error = ParleyClientError.fromBody(reply.error);
      const pending = reply.id === null ? undefined : this.settle(reply.id);
      return pending ? pending.reject(error) : this.handlers.error(error);
    }
    const pending = this.settle(reply.id);
    if (!pending) return; // the request timed out already
    const result = operationResultSchemas[pending.op].safeParse(reply.result);
    if (result.success) return pending.resolve(result.data);
    const error = new ParleyClientError('internal', `malformed ${pending.op} result: ${result.error.message}`);
    pending.reject(error);
    this.handlers.error(error);
  }

  // A reply we cannot read still settles its request when its id is recognisable, instead of letting it time out.
  private malformedReply(frame: unknown, problem: string): void {
    const id = (frame as { id?: unknown } | null)?.id;
    const error = new ParleyClientError('internal', `invalid reply frame: ${problem}`);
    if (typeof id === 'number') this.settle(id)?.reject(error);
    this.handlers.error(error);
  }

  private malformed(message: string): void {
    this.handlers.error(new ParleyClientError('internal', message));
  }

  private settle(id: number | string): PendingRequest | undefined {
    if (typeof id !== 'number') return undefined;
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (this.pending.size === 0) this.notifyIdle();
    return pending;
  }

  private notifyIdle(): void {
    for (const waiter of [...this.idleWaiters]) waiter();
  }

  private closed(code: number, reason: string): void {
    if (this.done) return;
    this.finish(disconnectedError());
    // Prefer the close code; a notice explains closes that arrive without one (1005, 1006).
    const notice = this.notice;
    const effective = code >= 4000 && code <= 4999 ? code : (notice?.code ?? code);
    const reconnect = shouldReconnect(effective) && (notice?.reconnect ?? true);
    this.handlers.close({ code: effective, reason: reason || (notice?.reason ?? ''), reconnect });
  }

  private finish(error: ParleyClientError): void {
    this.done = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.rejectOpened(error);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const request of pending) {
      clearTimeout(request.timer);
      request.reject(error);
    }
    this.notifyIdle();
  }

  // Socket callbacks must never throw: a failure here would surface in the runtime's event loop.
  private guard(action: () => void): void {
    try {
      action();
    } catch (error) {
      this.handlers.error(new ParleyClientError('internal', 'the client failed to handle a frame', { cause: error }));
    }
  }
}
