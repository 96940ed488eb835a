import type { OperationInput, OperationResult, ParleyEvent, ParleySignal } from '@parley/protocol';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { CODEC_NAMES, type CodecName } from './codecs.js';
import { ParleyClientError } from './errors.js';
import type { ParleyStaffEvent } from './staff-events.js';
import type { FetchFunction } from './http-socket.js';
import type { TokenSource } from './token.js';
import { TRANSPORT_NAMES, type TransportName } from './transports.js';
import type { WebSocketConstructor } from './websocket.js';

/** Options of a ParleyClient. */
export interface ClientOptions {
  /** The server's WebSocket endpoint, e.g. `wss://chat.example.com/v1/ws`. */
  url: string;
  /** A token, or a function returning a fresh one (called on every connect and before expiry). */
  token: TokenSource;
  /** The WebSocket class; defaults to `globalThis.WebSocket`. On Node 20 pass `WebSocket` from `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Reconnect delays (exponential, full jitter); also used for retries when the server gives no `retryAfterMs`. */
  reconnect?: Partial<BackoffOptions>;
  /** How long a request may wait for a connection and a reply together. Default 10 000. */
  requestTimeoutMs?: number;
  /** Most unacknowledged messages kept by `send`; more reject with `busy`. Default 1000. */
  outboxLimit?: number;
  /** Wire encoding: `json` (default) or `msgpack` (binary frames, smaller; needs a server that offers it). The HTTP transports always use JSON. */
  codec?: CodecName;
  /**
   * The transports to try, in order: `websocket`, then the HTTP fallbacks `sse` (Server-Sent Events + POST) and
   * `long-poll`. Default all three; pass one to force it.
   */
  transports?: TransportName[];
  /** How long a WebSocket may take to open before the client falls back. Default 3000. */
  webSocketTimeoutMs?: number;
  /** How long an SSE stream may take to deliver its `open` and first ping (buffering proxies hold them) before the client falls back to long-polling. Default 3000. */
  streamTimeoutMs?: number;
  /** While on a fallback, how often the client tries a WebSocket again, and moves back to it when one opens. Default 60 000. */
  probeIntervalMs?: number;
  /** The fetch function of the HTTP transports; defaults to `globalThis.fetch`. */
  fetch?: FetchFunction;
}

/** The connection state: `closed` is final (after `close()` or a close code that forbids reconnecting). */
export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** What a ParleyClient emits. */
export interface ClientEvents {
  /** An event of any subscribed conversation, after duplicate removal and gap filling; typed as on a Subscription. */
  event: ParleyEvent;
  /** A signal (typing, presence, AI deltas) of any subscribed conversation. */
  signal: ParleySignal;
  /** A staff-only event of any conversation subscribed with `staff: true`, in order and once; typed as on a Subscription. */
  staffEvent: ParleyStaffEvent;
  /** A notice the application's backend sent to this user (server API `notify`). */
  notification: { id: string; ts: number; data: Record<string, unknown> };
  /** The new state, on every change. */
  state: ClientState;
  /** The transport of a new connection, when it differs from the previous connection's (and on the first). */
  transport: TransportName;
  /** Something went wrong that no promise reports: malformed frames, failed reconnects, failed refreshes. */
  error: Error;
}

/** The `connect` reply: session, principal, token expiry and server limits. */
export type ConnectResult = OperationResult<'connect'>;
/** Options of `send`. */
export interface SendOptions {
  /** The idempotency key; a random UUID when absent. Re-sending the same key never creates a second message. */
  clientMsgId?: string;
  /** The seq of the event this message answers. */
  replyTo?: number;
}
/** Options of `subscribe`. */
export interface SubscribeOptions {
  /** Deliver every event after this seq first (0: the whole conversation); absent: only new events. */
  since?: number;
  /**
   * Also follow the staff-only events (notes, summaries, sentiment, routing decisions; agents and admins only),
   * resumed across reconnects from the last staff seq delivered. Default false.
   */
  staff?: boolean;
  /** With `staff`: deliver the staff events after this staff seq first. Default 0 (all of them). */
  staffSince?: number;
  /** Events each async iterator buffers for a slow consumer before it fails with `busy`. Default 1000. */
  bufferSize?: number;
}
/** Options of `open`. */
export type OpenOptions = OperationInput<'conversation.open'>;
/** The result of `open`: the conversation and whether this call created it. */
export type OpenResult = OperationResult<'conversation.open'>;
/** Options of `history`: `after`/`before` are exclusive seq bounds. */
export type HistoryOptions = Omit<OperationInput<'history'>, 'conversationId'>;
/** A page of history, typed like subscription events (an event whose data does not match its type is reported, not listed). */
export interface HistoryPage {
  events: ParleyEvent[];
  hasMore: boolean;
}
/** The result of `markRead`. */
export type ReadResult = OperationResult<'read'>;
/** The result of `presence`. */
export type PresenceResult = OperationResult<'presence'>;
/** The result of `ping`: the server's clock. */
export type PingResult = OperationResult<'ping'>;

/** Where a support conversation stands after a transition (resolve, reopen, hand back, close, ...), with the event's seq. */
export type SupportTransition = OperationResult<'support.resolve'>;
/** Where `transfer` moves a conversation: to an agent, or to a team's queue; `expectedAgentId` guards against a stale assignee. */
export type TransferTarget = ({ toAgentId: string; toTeam?: never } | { toTeam: string; toAgentId?: never }) & {
  expectedAgentId?: string | null;
  reason?: string;
};
/** The result of `note`: the staff event's id and staff seq; `duplicate` when this clientMsgId was stored before. */
export type NoteResult = OperationResult<'support.note'>;
/** Options of `staffHistory`: staff events after the staff seq `after` (default 0), at most `limit`. */
export type StaffHistoryOptions = Omit<OperationInput<'support.staffHistory'>, 'conversationId'>;
/** A page of staff-only events, typed like a subscription's `staffEvent`. */
export interface StaffHistoryPage {
  events: ParleyStaffEvent[];
  hasMore: boolean;
}
/** Options of `inbox`: a team (view `team`), a page cursor, a page size. */
export type InboxOptions = Omit<OperationInput<'support.inbox'>, 'view'>;
/** A page of an agent's inbox, with the live count of every view. */
export type InboxPage = OperationResult<'support.inbox'>;
/** A canned reply with its text filled in for the conversation (`rendered`). */
export type RenderedCannedReply = OperationResult<'support.canned'>['replies'][number];

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_WEBSOCKET_TIMEOUT_MS = 3000;
const DEFAULT_STREAM_TIMEOUT_MS = 3000;
const DEFAULT_PROBE_INTERVAL_MS = 60_000;
const DEFAULT_OUTBOX_LIMIT = 1000;

/** Events an async iterator of a Subscription buffers by default. */
export const DEFAULT_BUFFER_SIZE = 1000;

/** ClientOptions with every default applied and every value checked. */
export interface ResolvedOptions {
  url: string;
  token: TokenSource;
  reconnect: BackoffOptions;
  requestTimeoutMs: number;
  outboxLimit: number;
  codec: CodecName;
  transports: TransportName[];
  webSocketTimeoutMs: number;
  streamTimeoutMs: number;
  probeIntervalMs: number;
}

/** Applies the defaults and checks the options; throws `bad_request` on invalid ones. */
export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (typeof options.url !== 'string' || options.url.length === 0) throw new ParleyClientError('bad_request', 'url is required');
  if (typeof options.token !== 'string' && typeof options.token !== 'function') {
    throw new ParleyClientError('bad_request', 'token must be a string or a function returning one');
  }
  const reconnect = {
    initialDelayMs: positive(options.reconnect?.initialDelayMs ?? DEFAULT_BACKOFF.initialDelayMs, 'reconnect.initialDelayMs'),
    maxDelayMs: positive(options.reconnect?.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs, 'reconnect.maxDelayMs'),
  };
  return {
    url: options.url,
    token: options.token,
    reconnect,
    requestTimeoutMs: positive(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, 'requestTimeoutMs'),
    outboxLimit: positive(options.outboxLimit ?? DEFAULT_OUTBOX_LIMIT, 'outboxLimit'),
    codec: codecName(options.codec ?? 'json'),
    transports: transportNames(options.transports ?? [...TRANSPORT_NAMES]),
    webSocketTimeoutMs: positive(options.webSocketTimeoutMs ?? DEFAULT_WEBSOCKET_TIMEOUT_MS, 'webSocketTimeoutMs'),
    streamTimeoutMs: positive(options.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS, 'streamTimeoutMs'),
    probeIntervalMs: positive(options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS, 'probeIntervalMs'),
  };
}

function transportNames(value: unknown): TransportName[] {
  const valid = Array.isArray(value) && value.length > 0 && value.every((name) => (TRANSPORT_NAMES as readonly unknown[]).includes(name)) && new Set(value).size === value.length;
  if (!valid) throw new ParleyClientError('bad_request', `transports must be a non-empty list of distinct names from ${TRANSPORT_NAMES.join(', ')}`);
  return [...(value as TransportName[])];
}

function codecName(value: string): CodecName {
  if (!(CODEC_NAMES as readonly string[]).includes(value)) throw new ParleyClientError('bad_request', `codec must be one of ${CODEC_NAMES.join(', ')}`);
  return value as CodecName;
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new ParleyClientError('bad_request', `${name} must be a positive number`);
  return value;
}
