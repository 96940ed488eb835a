import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

/** How a fake connection talks to its client: a WebSocket, or a session of an HTTP transport. */
export interface FakeLine {
  readonly open: boolean;
  send(text: string): void;
  /** Closes like the real server (a close frame, or an SSE `close` event / a poll's `close`). */
  close(code: number, reason: string): void;
  /** Drops the line without a word (a WebSocket's TCP connection, or an HTTP session that the server forgets). */
  terminate(): void;
  onClose(listener: (code: number) => void): void;
}

/** A POST the fake received on /v1/rt/send, parsed. */
export interface SendBody {
  session: string;
  n?: number;
  frames?: unknown[];
  ack?: number;
}

/** What the fake HTTP transports hand to the fake server. */
export interface HttpHost {
  accept(line: FakeLine): { receive(text: string): void };
}

/** A session of the fake's HTTP transports: frames kept with positions until acknowledged. */
class HttpSession implements FakeLine {
  readonly id = `fake.${randomBytes(18).toString('base64url')}`;
  kept: { position: number; text: string }[] = [];
  lastPosition = 0;
  applied = 0;
  readonly early = new Map<number, unknown[]>();
  closing: { code: number; reason: string } | undefined;
  gone = false;
  stream: ServerResponse | undefined;
  poll: { after: number; respond: () => void } | undefined;
  private readonly closeListeners: ((code: number) => void)[] = [];
  receive: (text: string) => void = () => {};

  constructor(private readonly sessions: Map<string, HttpSession>) {
    sessions.set(this.id, this);
  }

  get open(): boolean {
    return !this.closing && !this.gone;
  }

  send(text: string): void {
    if (!this.open) return;
    const position = ++this.lastPosition;
    this.kept.push({ position, text });
    this.stream?.write(`id: ${position}\ndata: ${text}\n\n`);
    this.poll?.respond();
  }

  close(code: number, reason: string): void {
    if (!this.open) return;
    this.closing = { code, reason };
    this.stream?.end(`event: close\ndata: ${JSON.stringify(this.closing)}\n\n`);
    // A poller learns of the close from this poll's answer or the next one; the session stays until then.
    if (this.stream || this.poll) this.closed();
    this.poll?.respond();
  }

  /** The close reached the client: the session is gone. */
  closed(): void {
    if (this.closing) this.forget(this.closing.code);
  }

  terminate(): void {
    if (this.gone) return;
    this.stream?.destroy();
    this.poll?.respond();
    this.forget(1006);
  }

  onClose(listener: (code: number) => void): void {
    this.closeListeners.push(listener);
  }

  acknowledge(position: number): void {
    this.kept = this.kept.filter((frame) => frame.position > position);
  }

  private forget(code: number): void {
    this.gone = true;
    this.sessions.delete(this.id);
    for (const listener of this.closeListeners) listener(code);
  }
}

/**
 * The HTTP fallback endpoints of the fake server (/v1/rt/stream as SSE, /v1/rt/poll, /v1/rt/send), as the
 * wire contract in docs/transports.md describes them, with switches to misbehave: hold streams back as a
 * buffering proxy does, or forget every session (the client then gets 410 session_expired).
 */
export class FakeHttpTransports {
  readonly sessions = new Map<string, HttpSession>();
  readonly sendBodies: SendBody[] = [];
  /** Streams answer but send nothing (a proxy that buffers the response). */
  holdStreams = false;
  /** How long a poll waits for frames. */
  pollTimeoutMs = 1000;
  pingIntervalMs = 10_000;
  /** Bodies of /v1/rt/send over this many bytes are refused whole (413), their batch number unused. */
  maxBodyBytes = 1024 * 1024;
  /** Transports of the sessions opened, in order. */
  readonly opened: string[] = [];

  constructor(private readonly host: HttpHost) {}

  /** Forgets every session without a word: later requests get 410 session_expired. */
  expireSessions(): void {
    for (const session of [...this.sessions.values()]) session.terminate();
  }

  handle(request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? '/', 'http://fake').pathname;
    if (request.method === 'GET' && path === '/v1/rt/stream') return this.stream(request, response);
    if (request.method === 'GET' && path === '/v1/rt/poll') return this.poll(request, response);
    if (request.method === 'POST' && path === '/v1/rt/send') return void this.send(request, response);
    fail(response, 404, 'not_found', 'no such endpoint');
  }

  private open(transport: string): HttpSession {
    const session = new HttpSession(this.sessions);
    session.receive = this.host.accept(session).receive;
    this.opened.push(transport);
    return session;
  }

  private opening(session: HttpSession, transport: string): object {
    return { session: session.id, pingIntervalMs: this.pingIntervalMs, sessionTimeoutMs: 30_000, transport };
  }

  private stream(request: IncomingMessage, response: ServerResponse): void {
    if (request.headers['parley-session'] !== undefined) return fail(response, 400, 'bad_request', 'the fake does not re-attach streams');
    const session = this.open('sse');
    response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' });
    response.flushHeaders();
    request.on('close', () => session.stream === response && (session.stream = undefined));
    if (this.holdStreams) return;
    response.write(`event: open\ndata: ${JSON.stringify(this.opening(session, 'sse'))}\n\n`);
    response.write('event: ping\ndata: {}\n\n');
    session.stream = response;
  }

  private poll(request: IncomingMessage, response: ServerResponse): void {
    const id = request.headers['parley-session'];
    if (id === undefined) {
      const session = this.open('long-poll');
      return json(response, 200, { open: this.opening(session, 'long-poll'), frames: [] });
    }
    const session = this.sessions.get(String(id));
    if (!session) return fail(response, 410, 'session_expired', 'no such session');
    const after = Number(request.headers['parley-last-position'] ?? 0);
    session.acknowledge(after);
    session.poll?.respond();
    const respond = () => {
      if (session.poll?.respond !== respond) return;
      session.poll = undefined;
      clearTimeout(timer);
      const frames = session.kept.map((frame) => `{"position":${frame.position},"frame":${frame.text}}`);
      const close = session.closing ? `,"close":${JSON.stringify(session.closing)}` : '';
      if (session.gone && !session.closing) return void response.destroy();
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(`{"frames":[${frames.join(',')}]${close}}`);
      session.closed();
    };
    const timer = setTimeout(respond, this.pollTimeoutMs);
    session.poll = { after, respond };
    request.on('close', () => clearTimeout(timer));
    // Gathering a few ms lets frames sent together leave together.
    if (session.kept.length > 0 || session.closing) setTimeout(respond, 5);
  }

  private async send(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const id = String(request.headers['parley-session'] ?? '');
    let text = '';
    for await (const chunk of request) text += String(chunk);
    const session = this.sessions.get(id);
    if (!session) return fail(response, 410, 'session_expired', 'no such session');
    if (Buffer.byteLength(text) > this.maxBodyBytes) return fail(response, 413, 'too_large', `bodies are limited to ${this.maxBodyBytes} bytes`);
    const body = JSON.parse(text) as SendBody;
    this.sendBodies.push({ ...body, session: id });
    if (body.ack !== undefined) session.acknowledge(body.ack);
    if (body.n !== undefined && body.n > session.applied) session.early.set(body.n, body.frames ?? []);
    // Applied strictly in n order; a repeated n was applied before and is ignored.
    for (let next = session.early.get(session.applied + 1); next; next = session.early.get(session.applied + 1)) {
      session.early.delete(++session.applied);
      for (const frame of next) session.receive(JSON.stringify(frame));
    }
    response.writeHead(204).end();
  }
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function fail(response: ServerResponse, status: number, code: string, message: string): void {
  json(response, status, { error: { code, message } });
}
