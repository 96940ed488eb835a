import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { HTTP_STATUS_OF, ParleyError, retryAfterSeconds, toParleyError } from '../../core/errors.js';
import type { Principal } from '../../core/types.js';
import type { ResponseSink } from './answer-stream.js';
import type { UIMessageChunk } from './chunks.js';
import { sendRequestSchema, type AiSdkChats, type OpenResponse } from './chats.js';

/** Limits of the AI SDK HTTP endpoints. */
export interface AiSdkHttpOptions {
  /** Exact browser origins allowed to call from another origin (CORS); undefined: none. */
  allowedOrigins: string[] | undefined;
  /** Largest accepted request body. */
  maxBodyBytes: number;
  /** Interval of the SSE comment pings that keep proxies from closing a quiet stream. */
  pingIntervalMs: number;
  isDraining: () => boolean;
}

/** The headers of a UI message stream, as the AI SDK's own servers send them. */
const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache',
  'x-vercel-ai-ui-message-stream': 'v1',
  // nginx and other proxies must not buffer the stream.
  'X-Accel-Buffering': 'no',
};

const encoder = new TextEncoder();

/**
 * The AI SDK's HTTP chat protocol (`DefaultChatTransport`) at /v1/ai-sdk/chat: a POST answers with the UI
 * message stream over SSE; `GET /v1/ai-sdk/chat/:id/stream` resumes the running answer (204 when none runs);
 * `POST /v1/ai-sdk/chat/:id/stop` stops it on whichever worker runs it (the transport's own stop is only a
 * disconnect). Errors are `{error: {code, message}}` with the status of their code.
 */
export function aiSdkHttpRoutes(chats: AiSdkChats, options: AiSdkHttpOptions): Hono {
  const app = new Hono();
  const allowed = new Set(options.allowedOrigins ?? []);
  app.use(
    '/v1/ai-sdk/*',
    cors({
      origin: (origin) => (allowed.has(origin) ? origin : null),
      allowMethods: ['GET', 'POST'],
      allowHeaders: ['Authorization', 'Content-Type'],
      exposeHeaders: ['x-vercel-ai-ui-message-stream', 'Retry-After'],
      maxAge: 600,
    }),
  );
  app.onError((error, context) => errorResponse(context, toParleyError(error)));
  app.post('/v1/ai-sdk/chat', async (context) => {
    refuseWhileDraining(options);
    const principal = await chats.authenticate(context.req.header());
    const body = sendRequestSchema.safeParse(await readJson(context, options.maxBodyBytes));
    if (!body.success) throw new ParleyError('bad_request', `invalid chat request: ${describeIssue(body.error.issues[0])}`);
    return streamResponse(context, options, (sink) => chats.send(principal, body.data, sink));
  });
  app.get('/v1/ai-sdk/chat/:id/stream', async (context) => {
    refuseWhileDraining(options);
    const principal = await chats.authenticate(context.req.header());
    const response = await streamResponse(context, options, (sink) => chats.resume(principal, context.req.param('id'), sink));
    return response ?? context.body(null, 204);
  });
  app.post('/v1/ai-sdk/chat/:id/stop', async (context) => {
    const principal: Principal = await chats.authenticate(context.req.header());
    return context.json({ stopped: await chats.stop(principal, context.req.param('id')) });
  });
  return app;
}

/**
 * Opens the SSE response for a request: chunks as `data:` events, comment pings while quiet, `[DONE]` at the
 * end. A client that goes away ends only this response; the answer runs on. Null when `open` finds nothing.
 */
async function streamResponse<Result extends OpenResponse | null>(context: Context, options: AiSdkHttpOptions, open: (sink: ResponseSink) => Promise<Result>): Promise<Response | (Result & null)> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let response: OpenResponse | null = null;
  const ping = setInterval(() => write(': ping\n\n'), options.pingIntervalMs);
  const end = () => {
    if (closed) return;
    closed = true;
    clearInterval(ping);
    void response?.close();
  };
  const write = (text: string) => {
    if (closed) return;
    try {
      controller.enqueue(encoder.encode(text));
    } catch {
      end();
    }
  };
  const stream = new ReadableStream<Uint8Array>({
    start: (streamController) => void (controller = streamController),
    cancel: end,
  });
  const finish = (last: string) => {
    write(last);
    if (closed) return;
    end();
    controller.close();
  };
  const sink: ResponseSink = {
    chunk: (chunk: UIMessageChunk) => write(`data: ${JSON.stringify(chunk)}\n\n`),
    end: () => finish('data: [DONE]\n\n'),
    fail: (error) => finish(`data: ${JSON.stringify({ type: 'error', errorText: `${toParleyError(error).code}: ${error.message}` })}\n\n`),
  };
  try {
    response = await open(sink);
  } catch (error) {
    end();
    throw error;
  }
  if (!response) {
    end();
    return null as Result & null;
  }
  // The client may have gone while the request was set up: then the response ends at once (the answer runs on).
  if (context.req.raw.signal.aborted) end();
  else context.req.raw.signal.addEventListener('abort', end, { once: true });
  return new Response(stream, { status: 200, headers: STREAM_HEADERS });
}

async function readJson(context: Context, maxBytes: number): Promise<unknown> {
  const tooLarge = new ParleyError('too_large', `the request body is larger than ${maxBytes} bytes: send only the last message (prepareSendMessagesRequest, see docs/transports.md)`);
  if (Number(context.req.header('content-length') ?? 0) > maxBytes) throw tooLarge;
  // Read as it comes, so that a chunked body past the limit is cut off rather than buffered whole.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = context.req.raw.body?.getReader();
  for (let part = await reader?.read(); reader && part && !part.done; part = await reader.read()) {
    size += part.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge;
    }
    chunks.push(part.value);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ParleyError('bad_request', 'the request body is not JSON');
  }
}

function refuseWhileDraining(options: AiSdkHttpOptions): void {
  if (options.isDraining()) throw new ParleyError('unavailable', 'server is shutting down', { retryAfterMs: 1000 });
}

function describeIssue(issue: { path: PropertyKey[]; message: string } | undefined): string {
  return issue ? `${issue.path.map(String).join('.') || '(body)'}: ${issue.message}` : 'unreadable';
}

function errorResponse(context: Context, error: ParleyError): Response {
  const retryAfter = retryAfterSeconds(error);
  if (retryAfter !== undefined) context.header('Retry-After', String(retryAfter));
  return context.json({ error: error.toBody() }, HTTP_STATUS_OF[error.code]);
}
