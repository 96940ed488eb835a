import type { ServerFrame } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { RealtimeBatch } from '../core/ports.js';
import { BatchOrder } from './batch-order.js';
import type { ClientConnection, ConnectionHandler } from './connection.js';
import type { HttpTransportName, PositionedFrame, SessionClose, SessionReader } from './http-framing.js';

// Batches a session holds that arrived before the ones they follow.
const MAX_EARLY_BATCHES = 16;

/** Who keeps the HTTP sessions of a node: told when one closed or expired. */
export interface HttpConnectionOwner {
  /** The session closed (the server closed it); its last frames and the close stay readable for a while. */
  closed(connection: HttpConnection): void;
  /** No reader came for the session timeout: the session is gone, as a WebSocket that died. */
  expired(connection: HttpConnection): void;
}

interface KeptFrame extends PositionedFrame {
  bytes: number;
}

/**
 * A client connection over HTTP requests (SSE, HTTP streaming, long-poll). Every frame sent gets the next
 * position and is kept until the client acknowledges it (a later `Parley-Last-Position`, or `ack` in a POST),
 * so a stream cut or a poll response lost in transit loses nothing: the next request gets the rest again.
 * The kept bytes are the connection's `bufferedBytes`, so the slow-consumer bound applies as on a WebSocket.
 * One reader at a time receives the frames; without one for the session timeout, the session ends.
 */
export class HttpConnection implements ClientConnection {
  handler: ConnectionHandler | null = null;
  private readonly kept: KeptFrame[] = [];
  private keptBytes = 0;
  private lastPosition = 0;
  private acknowledged = 0;
  private reader: SessionReader | null = null;
  /** Frames of this event-loop turn not yet delivered to the reader (none allocated while idle). */
  private pending: KeptFrame[] | null = null;
  private ending: SessionClose | null = null;
  private drainWaiters: Array<{ lowBytes: number; resolve: () => void }> | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly order = new BatchOrder<unknown[]>(MAX_EARLY_BATCHES);

  constructor(
    readonly id: string,
    readonly transport: HttpTransportName,
    readonly remoteAddress: string,
    private readonly owner: HttpConnectionOwner,
    private readonly sessionTimeoutMs: number,
  ) {
    this.startIdleTimer();
  }

  get closed(): boolean {
    return this.ending !== null;
  }

  /** How the session ended, once it did. */
  get closedWith(): SessionClose | null {
    return this.ending;
  }

  get bufferedBytes(): number {
    return this.keptBytes;
  }

  /** The highest position given out so far. */
  get position(): number {
    return this.lastPosition;
  }

  send(frame: ServerFrame, shared?: object): boolean {
    if (this.ending) return false;
    const json = shared ? jsonOnce(shared, frame) : JSON.stringify(frame);
    const kept: KeptFrame = { position: ++this.lastPosition, json, bytes: Buffer.byteLength(json) };
    this.kept.push(kept);
    this.keptBytes += kept.bytes;
    if (this.reader) {
      if (!this.pending) {
        this.pending = [];
        scheduleFlush(this);
      }
      this.pending.push(kept);
    }
    return true;
  }

  /** Hands the frames queued in this turn to the reader, in one delivery. */
  flush(): void {
    const frames = this.pending;
    this.pending = null;
    if (frames && this.reader) this.reader.deliver(frames);
  }

  drained(lowBytes: number): Promise<void> | undefined {
    if (this.ending || this.keptBytes <= lowBytes) return undefined;
    return new Promise((resolve) => (this.drainWaiters ??= []).push({ lowBytes, resolve }));
  }

  /** Ends the session; the reader (now or the next one) gets the frames still kept, then the close. */
  close(code: number, reason: string): void {
    if (this.ending) return;
    this.flush();
    this.ending = { code, reason };
    this.clearIdleTimer();
    const reader = this.reader;
    this.reader = null;
    reader?.closed(this.ending);
    this.releaseDrainWaiters();
    this.owner.closed(this);
  }

  /**
   * Makes `reader` the one reader: frames up to `after` count as received (dropped), the kept ones after it
   * are delivered at once, then live ones. The previous reader ends. Throws `bad_request` for a position
   * this session never gave out or one before what the client acknowledged.
   */
  attach(reader: SessionReader, after: number): void {
    this.acknowledge(after, 'Parley-Last-Position');
    if (after < this.acknowledged) throw new ParleyError('bad_request', `Parley-Last-Position ${after} is before what was acknowledged (${this.acknowledged})`);
    const previous = this.reader;
    this.reader = reader;
    this.pending = null;
    this.clearIdleTimer();
    previous?.replaced();
    if (this.kept.length > 0) reader.deliver(this.kept.slice());
    if (this.ending) {
      this.reader = null;
      reader.closed(this.ending);
    }
  }

  /** `reader` stopped reading (its client went away, or a poll answered); the session timeout starts. */
  detach(reader: SessionReader): void {
    if (this.reader !== reader) return;
    this.reader = null;
    this.pending = null;
    this.startIdleTimer();
  }

  /** Whether `reader` is the one attached. */
  isReader(reader: SessionReader): boolean {
    return this.reader === reader;
  }

  ping(): void {
    this.reader?.ping();
  }

  /**
   * A POST: its acknowledgement, then its frames in batch order (as if they came on a WebSocket, one by
   * one, each paying the rate limit and checked against the frame limit by the session).
   */
  receive(batch: RealtimeBatch): void {
    if (batch.ack !== undefined) this.acknowledge(batch.ack, 'ack');
    if (batch.n === undefined) return;
    for (const frames of this.order.accept(batch.n, batch.frames ?? [])) {
      for (const frame of frames) this.handler?.onFrame(JSON.stringify(frame), false);
    }
  }

  /** Ends every wait on this connection without telling the client (the node stops serving). */
  dispose(): void {
    this.clearIdleTimer();
    const reader = this.reader;
    this.reader = null;
    reader?.replaced();
    this.releaseDrainWaiters();
  }

  /** Drops the kept frames up to `position` (the client has them). A stale (lower) position changes nothing. */
  private acknowledge(position: number, what: string): void {
    if (position > this.lastPosition) throw new ParleyError('bad_request', `${what} ${position} is past the last position sent (${this.lastPosition})`);
    if (position <= this.acknowledged) return;
    this.acknowledged = position;
    let dropped = 0;
    while (dropped < this.kept.length && this.kept[dropped]!.position <= position) this.keptBytes -= this.kept[dropped++]!.bytes;
    this.kept.splice(0, dropped);
    this.releaseDrainWaiters();
  }

  private releaseDrainWaiters(): void {
    if (!this.drainWaiters) return;
    const waiting = this.drainWaiters;
    this.drainWaiters = waiting.filter((waiter) => !this.ending && this.keptBytes > waiter.lowBytes);
    for (const waiter of waiting) if (!this.drainWaiters.includes(waiter)) waiter.resolve();
    if (this.drainWaiters.length === 0) this.drainWaiters = null;
  }

  private startIdleTimer(): void {
    if (this.ending || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.reader || this.ending) return;
      this.ending = { code: 1006, reason: 'session timeout' };
      this.releaseDrainWaiters();
      this.owner.expired(this);
    }, this.sessionTimeoutMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

/** Connections with frames queued in this event-loop turn; delivered together once the turn's I/O is done. */
const flushQueue = new Set<HttpConnection>();

function scheduleFlush(connection: HttpConnection): void {
  if (flushQueue.size === 0) setImmediate(flushAll);
  flushQueue.add(connection);
}

function flushAll(): void {
  for (const connection of flushQueue) connection.flush();
  flushQueue.clear();
}

/** The JSON of shared content (an event or signal push), kept as long as the content is referenced. */
const sharedJson = new WeakMap<object, string>();

function jsonOnce(shared: object, frame: ServerFrame): string {
  let json = sharedJson.get(shared);
  if (json === undefined) {
    json = JSON.stringify(frame);
    sharedJson.set(shared, json);
  }
  return json;
}
