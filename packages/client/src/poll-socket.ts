import { HttpSocket, parseClose, parseOpening, readJson } from './http-socket.js';

/**
 * The long-poll transport: `GET /v1/rt/poll` again and again, each poll carrying the last position received
 * (which also acknowledges it), plus POSTs for what the client sends. A poll answer lost in transit loses
 * nothing: the next poll asks from the same position and gets the same frames again.
 */
export class PollSocket extends HttpSocket {
  protected describe(): string {
    return 'long-polling';
  }

  protected async start(): Promise<void> {
    const first = await this.poll({});
    if (!first) return;
    if (typeof first.open !== 'object' || first.open === null) return this.fail('the first poll did not open a session');
    this.opened(parseOpening(first.open));
    let answer: Record<string, unknown> | undefined = first;
    while (answer && !this.closed) {
      this.receive(answer);
      if (this.closed) return;
      answer = await this.poll(this.sessionHeaders());
    }
  }

  /** One poll; undefined when it failed (the socket is closed then). */
  private async poll(headers: Record<string, string>): Promise<Record<string, unknown> | undefined> {
    const response = await this.options.fetch(this.options.endpoints.poll, {
      headers: { Accept: 'application/json', ...headers },
      signal: this.abort.signal,
      cache: 'no-store',
      credentials: 'omit',
    });
    if (!response.ok) {
      await this.failResponse(response, 'polling');
      return undefined;
    }
    return readJson(response);
  }

  private receive(answer: Record<string, unknown>): void {
    const frames = Array.isArray(answer.frames) ? (answer.frames as unknown[]) : [];
    for (const item of frames) {
      const { position, frame } = (item ?? {}) as { position?: unknown; frame?: unknown };
      if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 1) return this.fail('a polled frame has no valid position');
      this.deliver(position, JSON.stringify(frame));
    }
    if (answer.close !== undefined) {
      const { code, reason } = parseClose(answer.close);
      this.close(code, reason);
    }
  }
}
