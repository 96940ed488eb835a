import { ParleyClientError } from './errors.js';
import type { RealtimeEndpoints } from './transports.js';
import type { WebSocketLike } from './websocket.js';

/** The `fetch` function: the global one in browsers and Node 20, or one the application passes. */
export type FetchFunction = typeof fetch;

/** What an HTTP transport needs. */
export interface HttpSocketOptions {
  endpoints: RealtimeEndpoints;
  fetch: FetchFunction;
  /** How often a stream acknowledges what it received when there is nothing to send. */
  ackIntervalMs?: number;
}

/** What the server says when it opens a session (`open` on a stream, in the first poll's answer). */
export interface SessionOpening {
  session: string;
  pingIntervalMs: number;
  sessionTimeoutMs: number;
  transport: string;
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** A closed session or a cut network: reconnectable, as a WebSocket that died (1006). */
export const ABNORMAL_CLOSE = 1006;
/** Sends that failed for the network are tried this many times in all, with the same `n` (so never applied twice). */
const SEND_ATTEMPTS = 3;
const RETRY_DELAY_MS = 250;
const DEFAULT_ACK_INTERVAL_MS = 1000;
/** Received text after which a stream acknowledges at once (the server's replay pauses at 1/4 of its 1 MiB bound). */
const EAGER_ACK_CHARS = 64 * 1024;
/** The largest POST body the client builds (the server's default limit is 1 MiB). */
const MAX_BATCH_BYTES = 512 * 1024;

/**
 * A WebSocket made of HTTP requests, the base of the SSE and long-poll transports: frames go out in POSTs to
 * `/v1/rt/send`, numbered per session (`n`) so the server applies them once and in order; frames come in with
 * a position, and the last position received is acknowledged so the server can drop what it kept. A failure
 * closes it with the code of the matching WebSocket failure (`closeCodeFor`), reconnectable for a lost network
 * or session: the client then opens a new session and resumes by seq, as after a dropped WebSocket.
 */
export abstract class HttpSocket implements WebSocketLike {
  readyState = CONNECTING;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** Unused: every frame of these transports is JSON text. */
  binaryType = 'arraybuffer';
  /** The session id (a capability: it only ever travels in the `Parley-Session` header). */
  protected session: string | undefined;
  /** The position of the last frame received. */
  protected position = 0;
  protected readonly abort = new AbortController();
  private outgoing: string[] = [];
  /** The last batch number the server accepted. */
  private batches = 0;
  /** Most frames in one batch; halved when the server refuses a body as too large. */
  private batchLimit = Number.POSITIVE_INFINITY;
  private sending = false;
  private acknowledged = 0;
  /** Characters received since the last ack went out. */
  private unacknowledgedChars = 0;
  private ackTimer: ReturnType<typeof setInterval> | undefined;

  constructor(protected readonly options: HttpSocketOptions) {
    // Started on the next tick, after the caller has set the handlers, as a WebSocket opens.
    setTimeout(() => void this.start().catch((error: unknown) => this.fail(`${this.describe()} failed: ${message(error)}`)), 0);
  }

  /** Opens the session and reads from it until it closes. */
  protected abstract start(): Promise<void>;

  /** What this transport is, for messages. */
  protected abstract describe(): string;

  send(data: string | Uint8Array): void {
    if (this.readyState !== OPEN) throw new ParleyClientError('disconnected', 'the connection is not open');
    if (typeof data !== 'string') throw new ParleyClientError('bad_request', 'the HTTP transports carry JSON text frames only');
    this.outgoing.push(data);
    // Frames sent in one tick travel in one POST.
    if (this.outgoing.length === 1) queueMicrotask(() => void this.flush());
  }

  close(code = 1000, reason = ''): void {
    this.finish(code, reason);
  }

  /** The session is open: frames may be sent. */
  protected opened(opening: SessionOpening): void {
    if (this.readyState !== CONNECTING) return;
    this.session = opening.session;
    this.readyState = OPEN;
    this.onopen?.({});
    if (this.outgoing.length > 0) void this.flush();
  }

  /** Acknowledges received frames every `ackIntervalMs` when no send carried the ack (streams only: a poll acks itself). */
  protected startAcks(): void {
    const interval = this.options.ackIntervalMs ?? DEFAULT_ACK_INTERVAL_MS;
    this.ackTimer = setInterval(() => {
      if (this.position > this.acknowledged && !this.sending) void this.flush();
    }, interval);
  }

  /** Hands a frame to the connection unless it was delivered before (a re-sent position). */
  protected deliver(position: number, frame: string): void {
    if (this.readyState !== OPEN || position <= this.position) return;
    this.position = position;
    this.unacknowledgedChars += frame.length;
    this.onmessage?.({ data: frame });
    // Much received and not acknowledged: ack now rather than at the next tick of the timer, as the server
    // holds back a replay until the client acknowledges (a WebSocket's buffer drains by itself).
    if (this.ackTimer !== undefined && this.unacknowledgedChars >= EAGER_ACK_CHARS && !this.sending) void this.flush();
  }

  /** The headers that name this session and what it received. */
  protected sessionHeaders(): Record<string, string> {
    return { 'Parley-Session': this.session ?? '', 'Parley-Last-Position': String(this.position) };
  }

  /** Closes because of the network or the server; reconnectable unless `code` says otherwise. */
  protected fail(reason: string, code = ABNORMAL_CLOSE): void {
    this.finish(code, reason);
  }

  /** Closes for a response that is not what the transport expects. */
  protected async failResponse(response: Response, what: string): Promise<void> {
    const error = await errorBody(response);
    this.fail(`${what} answered ${response.status}${error ? ` ${error.code}: ${error.message}` : ''}`, closeCodeFor(response.status));
  }

  protected get closed(): boolean {
    return this.readyState === CLOSED;
  }

  private finish(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    if (this.ackTimer !== undefined) clearInterval(this.ackTimer);
    this.abort.abort();
    // Reported on a later tick, as a WebSocket's close event is.
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }

  /** Sends waiting frames (and the ack) in one POST, one POST at a time so that `n` follows the order of sends. */
  private async flush(): Promise<void> {
    if (this.sending || this.readyState !== OPEN) return;
    const frames = this.takeBatch();
    const ack = this.position > this.acknowledged ? this.position : undefined;
    if (frames.length === 0 && ack === undefined) return;
    this.sending = true;
    this.unacknowledgedChars = 0;
    try {
      if (!(await this.post(frames, ack))) return;
    } finally {
      this.sending = false;
    }
    if (this.outgoing.length > 0 || this.unacknowledgedChars >= EAGER_ACK_CHARS) void this.flush();
  }

  /** The next batch: the waiting frames up to MAX_BATCH_BYTES (at least one), and at most `batchLimit` of them. */
  private takeBatch(): string[] {
    let bytes = 0;
    let count = 0;
    while (count < this.outgoing.length && count < this.batchLimit) {
      bytes += utf8Length(this.outgoing[count]!);
      if (count > 0 && bytes > MAX_BATCH_BYTES) break;
      count++;
    }
    return this.outgoing.splice(0, count);
  }

  /**
   * POSTs one batch, again after a network failure or 429 with the same `n` (the server ignores an `n` it
   * applied); false when the socket closed.
   */
  private async post(frames: string[], ack: number | undefined): Promise<boolean> {
    const n = this.batches + 1;
    // The frames are JSON text already: joined, not parsed and encoded again.
    const parts = [...(frames.length > 0 ? [`"n":${n}`, `"frames":[${frames.join(',')}]`] : []), ...(ack !== undefined ? [`"ack":${ack}`] : [])];
    const body = `{${parts.join(',')}}`;
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await this.options.fetch(this.options.endpoints.send, {
          method: 'POST',
          headers: { 'Parley-Session': this.session ?? '', 'Content-Type': 'application/json' },
          body,
          signal: this.abort.signal,
          credentials: 'omit',
        });
      } catch (error) {
        if (this.closed) return false;
        if (attempt >= SEND_ATTEMPTS) return this.failed(`sending failed: ${message(error)}`);
        await delay(RETRY_DELAY_MS * attempt);
        continue;
      }
      if (response.ok) {
        await response.body?.cancel();
        if (frames.length > 0) this.batches = n;
        if (ack !== undefined) this.acknowledged = Math.max(this.acknowledged, ack);
        return !this.closed;
      }
      if (response.status === 413 && frames.length > 0) {
        await response.body?.cancel();
        return this.tooLarge(frames);
      }
      if (response.status === 429 && attempt < SEND_ATTEMPTS) {
        const error = await errorBody(response);
        await delay(error?.retryAfterMs ?? RETRY_DELAY_MS * attempt);
        continue;
      }
      await this.failResponse(response, 'sending');
      return false;
    }
  }

  /**
   * The server refused a body as too large; it did not use the batch's `n`. Several frames go again in smaller
   * batches; a single frame gets the `too_large` error reply a WebSocket would have got for it.
   */
  private tooLarge(frames: string[]): boolean {
    if (frames.length > 1) {
      this.batchLimit = Math.ceil(frames.length / 2);
      this.outgoing.unshift(...frames);
      return !this.closed;
    }
    const id = requestId(frames[0]!);
    if (id !== undefined) this.onmessage?.({ data: JSON.stringify({ id, error: { code: 'too_large', message: 'the frame is larger than the server accepts in a request body' } }) });
    return !this.closed;
  }

  private failed(reason: string): false {
    this.fail(reason);
    return false;
  }
}

/** The close code a failed HTTP response stands for: reconnectable unless retrying cannot help. */
export function closeCodeFor(status: number): number {
  if (status === 400) return 1002; // a frame the server cannot read: sending it again would not help
  if (status === 403) return 1008; // a refused Origin
  if (status === 413) return 1009;
  if (status === 429) return 1013;
  if (status === 503) return 1012;
  if (status === 410) return ABNORMAL_CLOSE; // session_expired: a new session resumes by seq
  return status >= 500 ? 1011 : ABNORMAL_CLOSE;
}

interface ErrorInfo {
  code: string;
  message: string;
  retryAfterMs?: number;
}

/** The `{"error":{...}}` body of a failed response, if it has one. */
async function errorBody(response: Response): Promise<ErrorInfo | undefined> {
  try {
    const body = (await response.json()) as { error?: ErrorInfo };
    return typeof body?.error?.code === 'string' ? body.error : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a JSON response body as an object. */
export async function readJson(response: Response): Promise<Record<string, unknown>> {
  const body: unknown = await response.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('the response is not a JSON object');
  return body as Record<string, unknown>;
}

/** Checks the `open` record the server sends when a session starts. */
export function parseOpening(value: unknown): SessionOpening {
  const opening = value as Partial<SessionOpening> | null;
  if (typeof opening?.session !== 'string' || opening.session.length === 0) throw new Error('the session opening has no session id');
  return {
    session: opening.session,
    pingIntervalMs: typeof opening.pingIntervalMs === 'number' ? opening.pingIntervalMs : 0,
    sessionTimeoutMs: typeof opening.sessionTimeoutMs === 'number' ? opening.sessionTimeoutMs : 0,
    transport: typeof opening.transport === 'string' ? opening.transport : '',
  };
}

/** Checks a `close` record: `{code, reason}`. */
export function parseClose(value: unknown): { code: number; reason: string } {
  const close = value as { code?: unknown; reason?: unknown } | null;
  return { code: typeof close?.code === 'number' ? close.code : ABNORMAL_CLOSE, reason: typeof close?.reason === 'string' ? close.reason : '' };
}

/** The id of a request frame (JSON text), if it has a readable one. */
function requestId(frame: string): number | string | undefined {
  try {
    const id = (JSON.parse(frame) as { id?: unknown }).id;
    return typeof id === 'number' || typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

const encoder = new TextEncoder();

function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
