/**
 * The HTTP fallback transports (SSE, HTTP streaming, long-poll) as the HTTP routes call them; the gateway
 * implements it. The routes parse the request; everything about sessions (where they live, positions,
 * acknowledgements, forwarding to the node that holds a session) is the implementation's. Failures are
 * ParleyErrors: `session_expired` (410) for a session that is gone, `forbidden` for a refused Origin,
 * `bad_request`, `rate_limited`, `busy`, `unavailable`. See docs/transports.md.
 */
export interface RealtimeHttp {
  /** Whether a browser on `origin` may use the transports (CORS preflights are answered for it). */
  originAllowed(origin: string, host: string | undefined): boolean;
  /** `GET /v1/rt/stream`: a new session, or the session of `Parley-Session` re-attached after `lastPosition`. */
  stream(request: RealtimeRequest, format: 'sse' | 'ndjson'): Promise<ReadableStream<Uint8Array>>;
  /** `GET /v1/rt/poll`: the JSON body of the answer (a new session, or the frames after `lastPosition`). */
  poll(request: RealtimeRequest): Promise<string>;
  /** `POST /v1/rt/send`: resolves once the node holding the session accepted the batch. */
  send(request: RealtimeRequest, batch: RealtimeBatch): Promise<void>;
}

/** What a request to the transports carries besides its body. */
export interface RealtimeRequest {
  origin: string | undefined;
  host: string | undefined;
  remoteAddress: string;
  /** `Parley-Session`. */
  sessionId: string | undefined;
  /** `Parley-Last-Position` (or SSE's `Last-Event-ID`): the last position the client received, 0 for none. */
  lastPosition: number | undefined;
  /** Aborted when the client goes away (a waiting poll then ends). */
  signal: AbortSignal;
}

/** A `POST /v1/rt/send` body: numbered client frames, an acknowledgement of received positions, or both. */
export interface RealtimeBatch {
  n?: number;
  frames?: unknown[];
  ack?: number;
}
