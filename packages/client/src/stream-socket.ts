import { HttpSocket, parseClose, parseOpening } from './http-socket.js';
import { SseParser, type ServerSentEvent } from './sse-parser.js';

/**
 * The SSE transport: one long `GET /v1/rt/stream` read through fetch's body reader (not EventSource, which
 * would reconnect by itself to a session it cannot resume), plus POSTs for what the client sends. It counts as
 * open once the server's `open` and first ping arrived: a proxy that buffers the stream holds both back, and
 * the client then moves on to long-polling.
 */
export class StreamSocket extends HttpSocket {
  private opening: ReturnType<typeof parseOpening> | undefined;

  protected describe(): string {
    return 'the SSE stream';
  }

  protected async start(): Promise<void> {
    const response = await this.options.fetch(this.options.endpoints.stream, {
      headers: { Accept: 'text/event-stream' },
      signal: this.abort.signal,
      cache: 'no-store',
      credentials: 'omit',
    });
    if (!response.ok || !response.body) return this.failResponse(response, 'opening the stream');
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    while (!this.closed) {
      const { done, value } = await reader.read();
      if (done) return this.fail('the stream ended without a close event');
      for (const event of parser.feed(value)) this.receive(event);
    }
    await reader.cancel().catch(() => {});
  }

  private receive(event: ServerSentEvent): void {
    if (this.closed) return;
    switch (event.event) {
      case 'open':
        this.opening = parseOpening(JSON.parse(event.data));
        return;
      case 'ping':
        if (this.opening && this.readyState === 0) {
          this.opened(this.opening);
          this.startAcks();
        }
        return;
      case 'close': {
        const { code, reason } = parseClose(JSON.parse(event.data));
        return this.close(code, reason);
      }
      case 'message': {
        const position = Number(event.id);
        if (!Number.isSafeInteger(position) || position < 1) return this.fail(`a stream frame has no valid position (id: ${event.id})`);
        return this.deliver(position, event.data);
      }
    }
  }
}
