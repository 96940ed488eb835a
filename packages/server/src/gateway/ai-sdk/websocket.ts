import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { toParleyError } from '../../core/errors.js';
import type { Principal } from '../../core/types.js';
import type { ResponseSink } from './answer-stream.js';
import type { UIMessageChunk } from './chunks.js';
import { sendRequestSchema, type AiSdkChats, type OpenResponse } from './chats.js';
import { errorText } from './errors.js';
import type { ConnectionAdmission } from '../admission.js';
import { acceptUpgrade } from '../upgrade.js';

/** Where the AI SDK's `WebSocketChatTransport` connects. */
export const AI_SDK_WEBSOCKET_PATH = '/v1/ai-sdk/ws';

/** Limits of the AI SDK WebSocket endpoint. */
export interface AiSdkWebSocketOptions {
  /** Largest accepted frame (a send frame carries the chat's messages). */
  maxFrameBytes: number;
  /** Requests (responses being streamed) one connection may have open at once. */
  maxOpenRequests: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** Told when a connection opens and closes (the open-connections gauge). */
  observer?: { opened(): void; closed(): void };
}

const stringRecord = z.record(z.string(), z.string());
const requestIdSchema = z.string().min(1).max(200);

/** The client frames of `WebSocketChatTransport` (ai 7): send, resume, abort. */
const clientFrameSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('send'), requestId: requestIdSchema, id: z.string().min(1).max(200), trigger: z.enum(['submit-message', 'regenerate-message']), messageId: z.string().optional(), messages: z.array(z.unknown()), headers: stringRecord, body: z.record(z.string(), z.unknown()) }),
  z.looseObject({ type: z.literal('resume'), requestId: requestIdSchema, id: z.string().min(1).max(200), lastSequence: z.number().int().nonnegative().optional(), headers: stringRecord, body: z.record(z.string(), z.unknown()) }),
  z.looseObject({ type: z.literal('abort'), requestId: requestIdSchema }),
]);
type ClientFrame = z.infer<typeof clientFrameSchema>;

/** The server frames: start, chunk (sequence from 0, +1 per chunk, per request), end, error, no-active. */
type ServerFrame =
  | { type: 'start'; requestId: string }
  | { type: 'chunk'; requestId: string; sequence: number; chunk: UIMessageChunk }
  | { type: 'end'; requestId: string }
  | { type: 'error'; requestId: string; errorText: string }
  | { type: 'no-active'; requestId: string };

/** One request of a connection: its response, and who may stop its answer. */
interface OpenRequest {
  kind: 'send' | 'resume';
  principal: Principal | null;
  chatId: string;
  response: OpenResponse | null;
  /** Ended (end, error, abort): no further frame is sent for it. */
  done: boolean;
}

/**
 * The `WebSocketChatTransport` protocol of the AI SDK (ai 7) at /v1/ai-sdk/ws: many requests multiplexed on
 * one socket, each authenticated by the `authorization` header inside its frame (browsers cannot set
 * handshake headers, and tokens never travel in a URL).
 */
export class AiSdkWebSocket {
  private readonly server: WebSocketServer;
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private readonly lastSeen = new Map<WebSocket, number>();

  constructor(
    private readonly chats: AiSdkChats,
    private readonly admission: ConnectionAdmission,
    private readonly options: AiSdkWebSocketOptions,
  ) {
    this.server = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes, perMessageDeflate: false });
    this.heartbeat = setInterval(() => this.checkHeartbeats(), options.pingIntervalMs);
    this.heartbeat.unref();
  }

  /** Takes an upgrade request for AI_SDK_WEBSOCKET_PATH. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Browsers always send Origin on WebSocket upgrades; a client without one is not a browser.
    const refusal = this.admission.refusal({ origin: request.headers.origin, host: request.headers.host, remoteAddress: request.socket.remoteAddress ?? 'unknown' });
    acceptUpgrade(this.server, request, socket, head, refusal, (ws, address) => this.open(ws, address));
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const socket of this.server.clients) socket.terminate();
    this.server.close();
  }

  private open(socket: WebSocket, address: string): void {
    this.admission.opened(address);
    this.options.observer?.opened();
    this.lastSeen.set(socket, Date.now());
    const requests = new Map<string, OpenRequest>();
    socket.on('message', (data: RawData, binary: boolean) => {
      this.lastSeen.set(socket, Date.now());
      void this.onFrame(socket, requests, binary ? null : data.toString());
    });
    socket.on('pong', () => this.lastSeen.set(socket, Date.now()));
    socket.on('error', () => socket.terminate());
    socket.on('close', () => {
      this.admission.closed(address);
      this.options.observer?.closed();
      this.lastSeen.delete(socket);
      // A dropped socket ends its responses; the answers run on (the client resumes them). A request still
      // being set up is marked done, and closes its response once it has one.
      for (const request of requests.values()) {
        request.done = true;
        void request.response?.close();
      }
      requests.clear();
    });
  }

  private async onFrame(socket: WebSocket, requests: Map<string, OpenRequest>, text: string | null): Promise<void> {
    const frame = parseFrame(text);
    if (!frame.ok) {
      // Without a request id there is no request to fail: the transport fails them all when the socket closes.
      if (frame.requestId === null) return socket.close(1007, `bad_request: ${frame.message}`.slice(0, 120));
      return send(socket, { type: 'error', requestId: frame.requestId, errorText: `bad_request: ${frame.message}` });
    }
    const message = frame.frame;
    if (message.type === 'abort') return this.abort(requests, message.requestId);
    if (requests.has(message.requestId)) return send(socket, { type: 'error', requestId: message.requestId, errorText: `bad_request: request ${message.requestId} is already open` });
    if (requests.size >= this.options.maxOpenRequests) return send(socket, { type: 'error', requestId: message.requestId, errorText: `rate_limited: at most ${this.options.maxOpenRequests} open requests per connection` });
    const request: OpenRequest = { kind: message.type, principal: null, chatId: message.id, response: null, done: false };
    requests.set(message.requestId, request);
    // A resume that names the last sequence it has is numbered on from there (see docs/transports.md).
    const firstSequence = message.type === 'resume' && message.lastSequence !== undefined ? message.lastSequence + 1 : 0;
    const sink = this.sink(socket, requests, message.requestId, request, firstSequence);
    try {
      request.principal = await this.chats.authenticate(message.headers);
      if (message.type === 'send') {
        const body = sendRequestSchema.safeParse({ ...message.body, id: message.id, messages: message.messages, trigger: message.trigger });
        if (!body.success) return sink.failWith(`bad_request: ${body.error.issues[0]?.path.join('.') ?? ''} ${body.error.issues[0]?.message ?? 'invalid send frame'}`);
        request.response = await this.chats.send(request.principal, body.data, sink);
        sink.begin();
      } else {
        request.response = await this.chats.resume(request.principal, message.id, sink);
        if (!request.response) return sink.noActive();
        sink.begin();
      }
      // Aborted, or the socket closed, while the request was being set up.
      if (request.done) await request.response.close();
    } catch (error) {
      sink.failWith(errorText(toParleyError(error)));
    }
  }

  /**
   * `abort`: the user pressed Stop (the stock transport sends it when its request is aborted). A send's answer
   * is stopped on whichever worker runs it; a resume only stops following (it is also aborted when a newer
   * resume replaces it). Either way nothing more is sent for the request.
   */
  private abort(requests: Map<string, OpenRequest>, requestId: string): void {
    const request = requests.get(requestId);
    if (!request) return;
    request.done = true;
    requests.delete(requestId);
    void request.response?.close();
    const generationId = request.response?.generationId ?? undefined;
    if (request.kind === 'send' && request.principal) void this.chats.stop(request.principal, request.chatId, generationId).catch(() => undefined);
  }

  private sink(socket: WebSocket, requests: Map<string, OpenRequest>, requestId: string, request: OpenRequest, firstSequence: number): ResponseSink & { begin(): void; noActive(): void; failWith(text: string): void } {
    let sequence = firstSequence;
    let begun = false;
    const finish = (frame: ServerFrame) => {
      if (request.done) return;
      request.done = true;
      requests.delete(requestId);
      send(socket, frame);
    };
    const begin = () => {
      if (begun || request.done) return;
      begun = true;
      send(socket, { type: 'start', requestId });
    };
    return {
      begin,
      chunk: (chunk) => {
        if (request.done) return;
        begin();
        send(socket, { type: 'chunk', requestId, sequence: sequence++, chunk });
      },
      end: () => {
        begin();
        finish({ type: 'end', requestId });
      },
      fail: (error) => finish({ type: 'error', requestId, errorText: errorText(toParleyError(error)) }),
      failWith: (text) => finish({ type: 'error', requestId, errorText: text }),
      noActive: () => finish({ type: 'no-active', requestId }),
    };
  }

  private checkHeartbeats(): void {
    const silentSince = Date.now() - this.options.pingIntervalMs - this.options.pingTimeoutMs;
    for (const [socket, seenAt] of this.lastSeen) {
      if (seenAt < silentSince) socket.terminate();
      else if (socket.readyState === WebSocket.OPEN) socket.ping();
    }
  }
}

/** A client frame, or why it is not one (with its request id, when it has one). */
function parseFrame(text: string | null): { ok: true; frame: ClientFrame } | { ok: false; requestId: string | null; message: string } {
  if (text === null) return { ok: false, requestId: null, message: 'frames are JSON text' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, requestId: null, message: 'the frame is not JSON' };
  }
  const parsed = clientFrameSchema.safeParse(value);
  if (parsed.success) return { ok: true, frame: parsed.data };
  const requestId = typeof (value as { requestId?: unknown } | null)?.requestId === 'string' ? (value as { requestId: string }).requestId : null;
  const issue = parsed.error.issues[0];
  return { ok: false, requestId, message: `invalid ${describeType(value)} frame: ${issue ? `${issue.path.join('.') || '(frame)'}: ${issue.message}` : 'unreadable'}` };
}

function describeType(value: unknown): string {
  const type = (value as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? JSON.stringify(type).slice(0, 40) : 'untyped';
}

function send(socket: WebSocket, frame: ServerFrame): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}
