import { randomBytes } from 'node:crypto';
import {
  CLOSE_CODES,
  CodecError,
  jsonProblem,
  operationArgsSchemas,
  requestFrameSchema,
  requestIdSchema,
  type Codec,
  type ConversationEvent,
  type OperationName,
  type RequestId,
  type Signal,
  type StaffEvent,
} from '@parley/protocol';
import type { z } from 'zod';
import { isStaff } from '../auth/authorization.js';
import { ParleyError, toParleyError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import type { ClientConnection, ConnectionHandler } from './connection.js';
import { OPERATIONS, type OperationSession } from './operations.js';
import { TokenBucket } from '../core/token-bucket.js';
import type { FrameCounters } from '../observability/metrics.js';
import type { Expiring } from './expiry-clock.js';
import type { GatewayServices } from './services.js';
import { ConversationSubscriptions } from './subscriptions.js';

interface QueuedRequest {
  id: RequestId;
  op: OperationName;
  args: unknown;
}

// Refused frames in a row, in multiples of the burst, after which a connection is closed (4501).
const FLOOD_FACTOR = 10;
// Closes after a closing handshake the client began (normal, going away, or without a code): it left on purpose.
const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1005]);
// A replay waiting this long for a client that reads nothing closes it as a slow consumer.
const STALL_MS = 30_000;

/** Who keeps track of sessions: told once when a session's connection has closed. */
export interface SessionOwner {
  ended(session: Session): void;
}

/**
 * The protocol semantics of one connection: authentication, request dispatch (one at a time, so a
 * client's sends keep their order), rate limits, token expiry and the connection's subscriptions.
 */
export class Session implements ConnectionHandler, OperationSession, Expiring {
  principal: Principal | null = null;
  /** Allocated on first use: most connections of a node may never subscribe (idle memory). */
  private subscriptionsOf: ConversationSubscriptions | null = null;
  private readonly bucket: TokenBucket;
  private readonly frames: FrameCounters;
  /** Requests waiting to start (none allocated while idle). */
  private queue: QueuedRequest[] | null = null;
  private processing: Promise<void> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null;
  /** The second the token's expiry is filed under in the shared expiry clock. */
  private expirySecond: number | null = null;
  private draining = false;
  private ended = false;
  private refusedInARow = 0;
  /** Lets the next request start (see `proceed`). */
  private proceedCurrent: (() => void) | null = null;
  /** Requests started and not finished (none allocated while idle). */
  private finishing: Set<Promise<void>> | null = null;

  constructor(
    readonly connection: ClientConnection,
    readonly services: GatewayServices,
    private readonly codec: Codec,
    private readonly owner: SessionOwner,
  ) {
    const { limits } = services;
    this.bucket = new TokenBucket(limits.ratePerSecond, limits.rateBurst);
    this.frames = services.metrics.frameCounters(connection.transport);
    this.connectTimer = setTimeout(() => this.close(CLOSE_CODES.authTimeout, 'no connect in time'), limits.connectTimeoutMs);
  }

  get subscriptions(): ConversationSubscriptions {
    return (this.subscriptionsOf ??= new ConversationSubscriptions(this));
  }

  /** Keeps this connection's presence entries alive (heartbeat). */
  refreshPresence(): void {
    this.subscriptionsOf?.refreshPresence();
  }

  onFrame(data: string | Uint8Array, binary: boolean): void {
    if (this.ended) return;
    this.frames.in++;
    // Every frame pays, valid or not, so that no input makes the server reply faster than the limit.
    if (!this.admit(data)) return;
    const request = this.parse(data, binary);
    if (!request) return;
    if (this.draining) return this.fail(request.id, new ParleyError('unavailable', 'server is restarting', { retryAfterMs: 1000 }));
    const queue = (this.queue ??= []);
    if (queue.length >= this.services.limits.maxPendingRequests) {
      return this.fail(request.id, new ParleyError('busy', 'too many requests in flight', { retryAfterMs: 100 }));
    }
    queue.push(request);
    this.processing ??= this.processQueue();
  }

  /** The connection closed with `code` (as received: the client's, or 1006 when the socket just died). */
  onClose(code: number): void {
    if (this.ended) return;
    this.ended = true;
    this.owner.ended(this);
    this.queue = null;
    this.subscriptionsOf?.stopFeeds();
    // A request still running (connect, subscribe) may register state after this point: release it once settled.
    void this.idle().then(() => this.release(CLEAN_CLOSE_CODES.has(code)));
  }

  private release(cleanly: boolean): void {
    this.clearTimers();
    void this.subscriptionsOf?.closeAll(cleanly);
    if (this.principal) this.services.users.remove(this.principal.tenant, this.principal.userId, this);
  }

  /** Becomes authenticated as `principal`; false when the user has too many connections. */
  authenticate(principal: Principal): boolean {
    if (this.ended) throw new ParleyError('unavailable', 'the connection closed');
    if (!this.services.users.add(principal.tenant, principal.userId, this, this.services.limits.maxConnectionsPerUser)) return false;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.principal = principal;
    this.scheduleExpiry(principal.expiresAt);
    return true;
  }

  /** Replaces the token of an authenticated session. */
  refresh(principal: Principal): void {
    this.principal = principal;
    this.scheduleExpiry(principal.expiresAt);
  }

  sendEvent(event: ConversationEvent): void {
    this.send({ push: 'event', event }, event);
  }

  sendSignal(signal: Signal): void {
    this.send({ push: 'signal', signal }, signal);
  }

  sendStaffEvent(event: StaffEvent): void {
    this.send({ push: 'staffEvent', event });
  }

  notify(notification: { id: string; ts: number; data: Record<string, unknown> }): void {
    this.send({ push: 'notification', notification });
  }

  async revoke(conversationId: string): Promise<void> {
    const principal = this.principal;
    // Agents and admins read every conversation of their tenant, member or not.
    if (!principal || isStaff(principal) || !this.subscriptionsOf?.has(conversationId)) return;
    await this.subscriptionsOf.unsubscribe({ tenant: principal.tenant, conversationId });
    this.send({ push: 'unsubscribed', conversationId, reason: 'removed from the conversation', code: 'forbidden' });
  }

  /** Tells the client why, then closes. `reason` is one of a fixed set (it is a metric label). */
  close(code: number, reason: string): void {
    if (this.connection.closed) return;
    this.send({ push: 'disconnect', code, reason, reconnect: code < 4500 });
    this.services.metrics.disconnects.inc({ reason });
    this.subscriptionsOf?.stopFeeds();
    this.connection.close(code, reason);
  }

  /** Stops taking requests and resolves when the ones already queued are done. */
  async drain(): Promise<void> {
    this.draining = true;
    await this.idle();
  }

  /** Applies the token bucket. A client that keeps sending past it is closed (4501) rather than answered forever. */
  private admit(data: string | Uint8Array): boolean {
    const waitMs = this.bucket.take();
    if (waitMs === 0) {
      this.refusedInARow = 0;
      return true;
    }
    // Far past the burst, the client is not backing off at all: stop answering it.
    if (++this.refusedInARow > FLOOD_FACTOR * this.services.limits.rateBurst) {
      this.close(CLOSE_CODES.policyViolation, 'rate limit exceeded repeatedly');
    } else {
      // Read no further than the largest frame accepted: a flood of huge frames costs about what receiving them did.
      this.fail(this.codec.peekId(data, this.services.limits.maxFrameBytes), new ParleyError('rate_limited', 'too many frames', { retryAfterMs: waitMs }));
    }
    return false;
  }

  private parse(data: string | Uint8Array, binary: boolean): QueuedRequest | null {
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (size > this.services.limits.maxFrameBytes) {
      // The whole frame: ws refuses one over 4x the limit before it gets here, and this path is rate limited.
      this.fail(this.codec.peekId(data), new ParleyError('too_large', `frame of ${size} bytes exceeds the limit of ${this.services.limits.maxFrameBytes}`));
      return null;
    }
    if (binary !== this.codec.binary) {
      this.fail(null, new ParleyError('bad_request', `${binary ? 'binary' : 'text'} frames are not accepted with subprotocol ${this.codec.subprotocol}`));
      return null;
    }
    let decoded: unknown;
    try {
      decoded = this.codec.decode(data);
    } catch (error) {
      // A codec's own errors say what is wrong; a JSON parser's would echo the input back.
      const detail = error instanceof CodecError ? `: ${error.message}` : '';
      this.fail(null, new ParleyError('bad_request', `frame is not valid ${this.codec.name}${detail}`));
      return null;
    }
    const problem = jsonProblem(decoded);
    if (problem) {
      this.fail(recoverId(decoded), new ParleyError('bad_request', `invalid frame: ${problem}`));
      return null;
    }
    const frame = requestFrameSchema.safeParse(decoded);
    if (!frame.success) {
      this.fail(recoverId(decoded), new ParleyError('bad_request', `invalid frame: ${describeIssues(frame.error)}`));
      return null;
    }
    if (!Object.hasOwn(operationArgsSchemas, frame.data.op)) {
      this.fail(frame.data.id, new ParleyError('bad_request', `unknown operation ${JSON.stringify(frame.data.op)}`));
      return null;
    }
    return { id: frame.data.id, op: frame.data.op as OperationName, args: frame.data.args ?? {} };
  }

  /**
   * Runs the requests one at a time, in order; a request that says its order is settled (`proceed`, a
   * send in its append queue) lets the next start while it finishes, up to the pending-request limit.
   */
  private async processQueue(): Promise<void> {
    for (let request = this.queue?.shift(); request && !this.ended; request = this.queue?.shift()) {
      let proceeded!: () => void;
      const settled = new Promise<void>((resolve) => (proceeded = resolve));
      this.proceedCurrent = proceeded;
      const finishing = (this.finishing ??= new Set());
      const done = this.execute(request).finally(() => {
        finishing.delete(done);
        if (finishing.size === 0 && this.finishing === finishing) this.finishing = null;
      });
      finishing.add(done);
      await Promise.race([done, settled]);
      this.proceedCurrent = null;
      if (finishing.size >= this.services.limits.maxPendingRequests) await Promise.race(finishing);
    }
    this.processing = null;
    if (this.queue?.length === 0) this.queue = null;
  }

  /** Resolves once no request is queued or running. */
  private async idle(): Promise<void> {
    while (this.processing || (this.finishing?.size ?? 0) > 0) {
      await this.processing;
      await Promise.all(this.finishing ?? []);
    }
  }

  proceed(): void {
    this.proceedCurrent?.();
  }

  /** Runs one request and replies; never throws, whatever the request or the operation does. */
  private async execute(request: QueuedRequest): Promise<void> {
    try {
      if (request.op !== 'connect' && !this.principal) throw new ParleyError('unauthorized', 'send connect first');
      const args = (operationArgsSchemas[request.op] as z.ZodType).safeParse(request.args);
      if (!args.success) throw new ParleyError('bad_request', `invalid arguments for ${request.op}: ${describeIssues(args.error)}`);
      const result = await OPERATIONS[request.op](this, args.data as never);
      this.send({ id: request.id, result });
    } catch (error) {
      const failure = toParleyError(error);
      if (failure.code === 'internal') this.services.logger.error({ err: error, op: request.op }, 'operation failed');
      this.fail(request.id, failure);
    }
  }

  private fail(id: RequestId | null, error: ParleyError): void {
    this.services.metrics.errors.inc({ code: error.code });
    this.send({ id, error: error.toBody() });
  }

  private send(frame: Parameters<ClientConnection['send']>[0], shared?: object): void {
    if (!this.connection.send(frame, shared)) return;
    this.frames.out++;
    if (this.connection.bufferedBytes > this.services.limits.maxBufferedBytes) {
      // Nothing more is queued for it. The close frame waits behind the buffer, and ws destroys the socket
      // if the client never reads it, so memory stays bounded either way; the client resumes by seq.
      this.closeSlowConsumer();
    }
  }

  /**
   * Resolves when the client has read enough of its backlog to take more (see OrderedFeed pace). A client
   * that reads nothing for STALL_MS is closed as a slow consumer, so a stalled replay holds nothing for long.
   */
  drained(): Promise<void> | undefined {
    const waiting = this.connection.drained(this.services.limits.maxBufferedBytes / 4);
    if (!waiting) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.closeSlowConsumer();
        resolve();
      }, STALL_MS);
    });
    return Promise.race([waiting, stalled]).finally(() => clearTimeout(timer));
  }

  private closeSlowConsumer(): void {
    if (this.connection.closed) return;
    this.services.metrics.disconnects.inc({ reason: 'slow consumer' });
    this.subscriptionsOf?.stopFeeds();
    this.connection.close(CLOSE_CODES.slowConsumer, 'slow consumer');
  }

  /** The token expired (the shared expiry clock calls this). */
  expired(): void {
    this.expirySecond = null;
    this.close(CLOSE_CODES.tokenExpired, 'token expired');
  }

  private scheduleExpiry(expiresAt: number): void {
    const clock = this.services.tokenExpiries;
    if (this.expirySecond !== null) clock.remove(this, this.expirySecond);
    this.expirySecond = clock.add(this, expiresAt);
  }

  private clearTimers(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.expirySecond !== null) this.services.tokenExpiries.remove(this, this.expirySecond);
    this.expirySecond = null;
  }
}

/** A new session id; also used as the presence connection id. */
export function newSessionId(): string {
  // 96 random bits in 16 characters: unique across nodes, and 20 bytes less per connection than a UUID's 36.
  return randomBytes(12).toString('base64url');
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(frame)'}: ${issue.message}`)
    .join('; ');
}

function recoverId(decoded: unknown): RequestId | null {
  const id = requestIdSchema.safeParse((decoded as { id?: unknown } | null)?.id);
  return id.success ? id.data : null;
}
