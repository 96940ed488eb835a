type Frame = Record<string, any>;

/** The HTTP fallback transports, by the name the server gives their sessions. */
export type RtTransport = 'sse' | 'http-stream' | 'long-poll';

/** A frame with its session position, as received. */
export interface Received {
  position: number;
  frame: Frame;
}

const ACCEPT: Record<Exclude<RtTransport, 'long-poll'>, string> = { sse: 'text/event-stream', 'http-stream': 'application/x-ndjson' };

/**
 * A bare client of the HTTP transports for tests, over fetch (no SDK): opens a session over SSE, NDJSON
 * streaming or long-poll, posts numbered batches of request frames (acknowledging what it received), and
 * records every frame it receives with its position, every ping and the close. A stream can be cut and
 * re-attached (to any node) with the last position received.
 */
export class RtClient {
  readonly received: Received[] = [];
  pings = 0;
  open: Frame | null = null;
  close: { code: number; reason: string } | null = null;
  /** Highest position received. */
  position = 0;
  /** The number of the next batch `post` sends (a test may take numbers by hand). */
  nextBatch = 1;
  private nextId = 1;
  private reading: AbortController | null = null;
  private readonly waiters: Array<{ match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }> = [];
  /** Why the current read ended: a status other than 200, or a network error. */
  readError: string | null = null;

  private constructor(
    public baseUrl: string,
    readonly transport: RtTransport,
    readonly headers: Record<string, string>,
  ) {}

  /** Opens a session on `baseUrl` and starts reading it (a stream, or a loop of polls). */
  static async open(baseUrl: string, transport: RtTransport, headers: Record<string, string> = {}): Promise<RtClient> {
    const client = new RtClient(baseUrl, transport, headers);
    if (transport === 'long-poll') {
      const response = await fetch(`${baseUrl}/v1/rt/poll`, { headers });
      if (response.status !== 200) throw new Error(`poll answered ${response.status}: ${await response.text()}`);
      client.open = ((await response.json()) as Frame).open;
      client.startPolling();
    } else {
      await client.attach(false);
    }
    await waitUntil(() => client.open !== null);
    return client;
  }

  get session(): string {
    return this.open!.session as string;
  }

  /** Opens a session and authenticates it with `token`. */
  static async connect(baseUrl: string, transport: RtTransport, token: string, headers: Record<string, string> = {}): Promise<RtClient> {
    const client = await RtClient.open(baseUrl, transport, headers);
    const reply = await client.request('connect', { token });
    if (reply.error) throw new Error(`connect failed: ${JSON.stringify(reply.error)}`);
    return client;
  }

  /** POSTs a batch (number `n` by default the next one) with an acknowledgement of what was received. */
  post(frames: Frame[], options: { n?: number; baseUrl?: string; ack?: boolean } = {}): Promise<Response> {
    const n = options.n ?? this.nextBatch++;
    const body = { n, frames, ...(options.ack === false ? {} : { ack: this.position }) };
    return fetch(`${options.baseUrl ?? this.baseUrl}/v1/rt/send`, {
      method: 'POST',
      headers: { ...this.headers, 'Parley-Session': this.session, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  /** A request frame with the next id, for batches built by hand. */
  frame(op: string, args: Frame = {}): Frame {
    return { id: this.nextId++, op, args };
  }

  /** Sends one request in its own batch and waits for its reply frame (result or error). */
  async request(op: string, args: Frame = {}, options: { baseUrl?: string } = {}): Promise<Frame> {
    const frame = this.frame(op, args);
    const reply = this.waitFor((received) => received.id === frame.id && ('result' in received || 'error' in received));
    const response = await this.post([frame], options);
    if (response.status !== 204) throw new Error(`send answered ${response.status}: ${await response.text()}`);
    return reply;
  }

  /** Like `request`, but returns the result and throws on an error reply. */
  async call(op: string, args: Frame = {}, options: { baseUrl?: string } = {}): Promise<any> {
    const reply = await this.request(op, args, options);
    if (reply.error) throw new Error(`${op} failed: ${JSON.stringify(reply.error)}`);
    return reply.result;
  }

  /** Resolves with the first frame (already received or coming) that matches. */
  waitFor(match: (frame: Frame) => boolean, timeoutMs = 15_000): Promise<Frame> {
    const found = this.received.find((received) => match(received.frame));
    if (found) return Promise.resolve(found.frame);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (frame: Frame) => (clearTimeout(timer), resolve(frame)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no matching frame within ${timeoutMs} ms; received: ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  get frames(): Frame[] {
    return this.received.map((received) => received.frame);
  }

  /** The events of a conversation pushed to this client, in the order received. */
  events(conversationId: string): Frame[] {
    return this.frames.filter((frame) => frame.push === 'event' && frame.event.conversation === conversationId).map((frame) => frame.event);
  }

  /** Stops reading: the stream is cut (as a network would), or polling stops. */
  cut(): void {
    this.reading?.abort();
    this.reading = null;
  }

  /** Reads again, on `baseUrl` (another node, say), after `position` (default: the last received). */
  async reattach(options: { baseUrl?: string; position?: number } = {}): Promise<void> {
    this.cut();
    if (options.baseUrl) this.baseUrl = options.baseUrl;
    if (options.position !== undefined) this.position = options.position;
    if (this.transport === 'long-poll') this.startPolling();
    else await this.attach(true);
  }

  /** One poll with the given position, outside the polling loop; its parsed answer. */
  async pollOnce(position: number, baseUrl = this.baseUrl): Promise<{ status: number; body: Frame }> {
    const response = await fetch(`${baseUrl}/v1/rt/poll`, { headers: { ...this.headers, 'Parley-Session': this.session, 'Parley-Last-Position': String(position) } });
    return { status: response.status, body: (await response.json()) as Frame };
  }

  private async attach(existing: boolean): Promise<void> {
    const controller = new AbortController();
    this.reading = controller;
    this.readError = null;
    const headers: Record<string, string> = { ...this.headers, Accept: ACCEPT[this.transport as keyof typeof ACCEPT] };
    if (existing) Object.assign(headers, { 'Parley-Session': this.session, 'Parley-Last-Position': String(this.position) });
    const response = await fetch(`${this.baseUrl}/v1/rt/stream`, { headers, signal: controller.signal });
    if (response.status !== 200) {
      this.readError = `${response.status} ${await response.text()}`;
      throw new Error(`stream answered ${this.readError}`);
    }
    void this.readStream(response, controller).catch((error: unknown) => {
      if (this.reading === controller) this.readError = String(error);
    });
  }

  private async readStream(response: Response, controller: AbortController): Promise<void> {
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    const separator = this.transport === 'sse' ? '\n\n' : '\n';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      for (let end = buffer.indexOf(separator); end >= 0; end = buffer.indexOf(separator)) {
        const chunk = buffer.slice(0, end);
        buffer = buffer.slice(end + separator.length);
        if (this.reading !== controller) return;
        if (this.transport === 'sse') this.sseEvent(chunk);
        else this.ndjsonLine(chunk);
      }
    }
    if (this.reading === controller) this.readError = 'stream ended';
  }

  private sseEvent(chunk: string): void {
    const fields = new Map<string, string>();
    for (const line of chunk.split('\n')) {
      const colon = line.indexOf(': ');
      fields.set(line.slice(0, colon), line.slice(colon + 2));
    }
    const data = JSON.parse(fields.get('data')!) as Frame;
    const event = fields.get('event');
    if (event === 'open') this.open = data;
    else if (event === 'ping') this.pings++;
    else if (event === 'close') this.close = data as { code: number; reason: string };
    else this.receive(Number(fields.get('id')), data);
  }

  private ndjsonLine(line: string): void {
    const item = JSON.parse(line) as Frame;
    if (item.open) this.open = item.open;
    else if (item.ping) this.pings++;
    else if (item.close) this.close = item.close;
    else this.receive(item.position, item.frame);
  }

  private startPolling(): void {
    const controller = new AbortController();
    this.reading = controller;
    this.readError = null;
    void (async () => {
      while (this.reading === controller && !this.close) {
        const response = await fetch(`${this.baseUrl}/v1/rt/poll`, {
          headers: { ...this.headers, 'Parley-Session': this.session, 'Parley-Last-Position': String(this.position) },
          signal: controller.signal,
        });
        if (response.status !== 200) {
          this.readError = `${response.status} ${await response.text()}`;
          return;
        }
        const body = (await response.json()) as Frame;
        if (this.reading !== controller) return;
        for (const item of body.frames) this.receive(item.position, item.frame);
        if (body.close) this.close = body.close;
      }
    })().catch((error: unknown) => {
      if (this.reading === controller) this.readError = String(error);
    });
  }

  private receive(position: number, frame: Frame): void {
    this.received.push({ position, frame });
    this.position = Math.max(this.position, position);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(frame)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    }
  }
}

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}
