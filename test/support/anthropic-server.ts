import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fake Anthropic API received. */
export interface AnthropicRequest {
  apiKey: string | undefined;
  version: string | undefined;
  body: { model: string; stream: boolean; system?: unknown; messages: Array<{ role: string; content: unknown }> };
}

/**
 * A local server speaking the Anthropic Messages streaming format (`message_start`, `content_block_delta`
 * with `text_delta`, ..., `message_stop`), so the AI SDK's Anthropic provider is exercised over a socket.
 * It answers "Claude heard: <the last user text>".
 */
export class FakeAnthropicServer {
  readonly requests: AnthropicRequest[] = [];
  private readonly server: Server;

  private constructor() {
    this.server = createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk) => (raw += chunk));
      request.on('end', () => {
        const body = JSON.parse(raw) as AnthropicRequest['body'];
        this.requests.push({ apiKey: request.headers['x-api-key'] as string | undefined, version: request.headers['anthropic-version'] as string | undefined, body });
        response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        const send = (type: string, data: Record<string, unknown>) => response.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
        const last = body.messages.at(-1)!;
        const question = typeof last.content === 'string' ? last.content : (last.content as Array<{ text?: string }>).map((part) => part.text ?? '').join('');
        const tokens = `Claude heard: ${question}`.match(/\S+\s*/g) ?? [];
        send('message_start', { message: { id: 'msg_test', type: 'message', role: 'assistant', content: [], model: body.model, stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } } });
        send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
        for (const token of tokens) send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: token } });
        send('content_block_stop', { index: 0 });
        send('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: tokens.length } });
        send('message_stop', {});
        response.end();
      });
    });
  }

  static async start(): Promise<FakeAnthropicServer> {
    const fake = new FakeAnthropicServer();
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
