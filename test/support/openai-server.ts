import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface ChatMessage {
  role: string;
  content?: string | null;
  tool_calls?: unknown[];
}

/** A request the fake provider received. */
export interface RecordedRequest {
  authorization: string | undefined;
  body: { model: string; stream: boolean; messages: ChatMessage[]; tools?: Array<{ function: { name: string } }>; response_format?: { type: string } };
}

/** How the fake provider answers a request that does not stream (`generateText`): an HTTP status and the message's content. */
export type Completion = (body: RecordedRequest['body']) => { status: number; content: string };

/**
 * A local server speaking the OpenAI chat-completions streaming format (SSE `chat.completion.chunk`s),
 * tool calls included, so the real provider path of the AI SDK is exercised over a socket.
 * Behaviour: answers that mention an order call `lookup_order` when the tool is offered; after a tool
 * result it answers with that result; otherwise it echoes. `failNext(n)` answers the next n requests with HTTP 500.
 * Requests that do not stream get one `chat.completion` from `completion` (by default it echoes too).
 */
export class FakeOpenAiServer {
  readonly requests: RecordedRequest[] = [];
  /** Answers requests that do not stream; tests replace it. */
  completion: Completion = (body) => ({ status: 200, content: `You said: ${String(body.messages.at(-1)?.content ?? '')}` });
  private failures = 0;
  private readonly server: Server;

  private constructor(private readonly tokenDelayMs: number) {
    this.server = createServer((request, response) => {
      void readBody(request).then((raw) => {
        const body = JSON.parse(raw) as RecordedRequest['body'];
        this.requests.push({ authorization: request.headers.authorization, body });
        if (this.failures > 0) {
          this.failures--;
          response.writeHead(500, { 'Content-Type': 'application/json' });
          response.end(JSON.stringify({ error: { message: 'upstream overloaded', type: 'server_error' } }));
          return;
        }
        if (!body.stream) return this.complete(body, response);
        response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        void this.stream(body, (chunk) => response.write(`data: ${JSON.stringify(chunk)}\n\n`)).then(() => response.end('data: [DONE]\n\n'));
      });
    });
  }

  static async start(tokenDelayMs = 5): Promise<FakeOpenAiServer> {
    const fake = new FakeOpenAiServer(tokenDelayMs);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  failNext(count: number): void {
    this.failures = count;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private complete(body: RecordedRequest['body'], response: ServerResponse): void {
    const { status, content } = this.completion(body);
    response.writeHead(status, { 'Content-Type': 'application/json' });
    if (status !== 200) {
      response.end(JSON.stringify({ error: { message: 'upstream failed', type: 'server_error' } }));
      return;
    }
    const usage = { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 };
    const choice = { index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' };
    response.end(JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: body.model, choices: [choice], usage }));
  }

  private async stream(body: RecordedRequest['body'], write: (chunk: unknown) => void): Promise<void> {
    const chunk = (delta: unknown, finishReason: string | null = null, usage?: unknown) => ({
      id: 'chatcmpl-test',
      object: 'chat.completion.chunk',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, delta, finish_reason: finishReason }],
      ...(usage ? { usage } : {}),
    });
    const last = body.messages.at(-1)!;
    const offersLookup = body.tools?.some((tool) => tool.function.name === 'lookup_order') ?? false;
    const order = /order\s*(\d+)/i.exec(String(last.content ?? ''));
    if (last.role === 'user' && order && offersLookup) {
      write(chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup_order', arguments: '' } }] }));
      write(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"orderId":' } }] }));
      write(chunk({ tool_calls: [{ index: 0, function: { arguments: `"${order[1]}"}` } }] }));
      write(chunk({}, 'tool_calls', { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 }));
      return;
    }
    const text = last.role === 'tool' ? `The tool says ${String(last.content)}` : `You said: ${String(last.content)}`;
    write(chunk({ role: 'assistant', content: '' }));
    for (const token of text.match(/\S+\s*/g) ?? []) {
      await new Promise((resolve) => setTimeout(resolve, this.tokenDelayMs));
      write(chunk({ content: token }));
    }
    write(chunk({}, 'stop', { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 }));
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let raw = '';
    request.on('data', (chunk) => (raw += chunk));
    request.on('end', () => resolve(raw));
  });
}
