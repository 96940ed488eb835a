import WebSocket from 'ws';

type Frame = Record<string, any>;

/**
 * A bare protocol client for tests: sends frames, collects everything the server sends, and lets a test
 * wait for a reply by id or for a frame matching a predicate.
 */
export class RawClient {
  readonly frames: Frame[] = [];
  closeCode: number | null = null;
  closeReason = '';
  private nextId = 1;
  private waiters: Array<{ match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }> = [];
  private closedWaiters: Array<() => void> = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, binary) => this.receive(binary ? { binary: true, data } : JSON.parse(data.toString())));
    socket.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      for (const resolve of this.closedWaiters) resolve();
    });
    socket.on('error', () => undefined);
  }

  static open(url: string, options: { protocol?: string | string[]; headers?: Record<string, string> } = {}): Promise<RawClient> {
    const socket = new WebSocket(url, options.protocol ?? 'parley.v1.json', { headers: options.headers ?? {} });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new RawClient(socket)));
      socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
      socket.once('error', reject);
    });
  }

  /** Opens and authenticates; throws if connect fails. */
  static async connect(url: string, jwt: string): Promise<RawClient> {
    const client = await RawClient.open(url);
    const reply = await client.request('connect', { token: jwt });
    if (reply.error) throw new Error(`connect failed: ${JSON.stringify(reply.error)}`);
    return client;
  }

  /** Sends a request and resolves with its reply frame (result or error). */
  request(op: string, args: unknown = {}): Promise<Frame> {
    const id = this.nextId++;
    this.sendRaw(JSON.stringify({ id, op, args }));
    return this.waitFor((frame) => frame.id === id);
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

  private receive(frame: Frame): void {
    this.frames.push(frame);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.match(frame)) return true;
      waiter.resolve(frame);
      return false;
    });
  }
}
