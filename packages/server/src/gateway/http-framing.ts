/**
 * How the HTTP transports write what a session sends: SSE (`text/event-stream`), HTTP streaming
 * (`application/x-ndjson`, one JSON object per line) and long-poll bodies. Frames are kept as their JSON
 * text, so they are written without being encoded again. See docs/transports.md.
 */

/** A server frame at its position in a session (positions start at 1 and have no gaps). */
export interface PositionedFrame {
  position: number;
  /** The frame, JSON-encoded. */
  json: string;
}

/** Why a session ended, as the client is told. */
export interface SessionClose {
  code: number;
  reason: string;
}

/** What the first message of a new session tells the client. */
export interface SessionOpen {
  session: string;
  pingIntervalMs: number;
  sessionTimeoutMs: number;
  transport: HttpTransportName;
}

/** The transport labels of HTTP sessions (also the `transport` label of the connection metrics). */
export type HttpTransportName = 'sse' | 'http-stream' | 'long-poll';

export type StreamFormat = 'sse' | 'ndjson';

export const STREAM_CONTENT_TYPES: Record<StreamFormat, string> = { sse: 'text/event-stream; charset=utf-8', ndjson: 'application/x-ndjson; charset=utf-8' };

export function framesText(format: StreamFormat, frames: readonly PositionedFrame[]): string {
  let text = '';
  if (format === 'sse') for (const frame of frames) text += `id: ${frame.position}\ndata: ${frame.json}\n\n`;
  else for (const frame of frames) text += `{"position":${frame.position},"frame":${frame.json}}\n`;
  return text;
}

export function pingText(format: StreamFormat): string {
  return format === 'sse' ? 'event: ping\ndata: {}\n\n' : '{"ping":{}}\n';
}

export function closeText(format: StreamFormat, close: SessionClose): string {
  const data = JSON.stringify({ code: close.code, reason: close.reason });
  return format === 'sse' ? `event: close\ndata: ${data}\n\n` : `{"close":${data}}\n`;
}

export function openText(format: StreamFormat, open: SessionOpen): string {
  const data = JSON.stringify(open);
  return format === 'sse' ? `event: open\ndata: ${data}\n\n` : `{"open":${data}}\n`;
}

/** A long-poll answer: `{"frames":[...]}`, with `close` once the session ended, and `open` for a new session. */
export function pollBody(frames: readonly PositionedFrame[], close?: SessionClose, open?: SessionOpen): string {
  const list = frames.map((frame) => `{"position":${frame.position},"frame":${frame.json}}`).join(',');
  const head = open ? `{"open":${JSON.stringify(open)},` : '{';
  return `${head}"frames":[${list}]${close ? `,"close":${JSON.stringify({ code: close.code, reason: close.reason })}` : ''}}`;
}

/**
 * The one reader attached to an HTTP session: an open stream, a waiting poll, or a relay of the stream
 * to the node that holds the client's request. A new reader replaces the previous one.
 */
export interface SessionReader {
  /** Frames queued since the last delivery, positions ascending and without gaps. */
  deliver(frames: readonly PositionedFrame[]): void;
  /** A heartbeat for the client (streams only; a poll answers in time instead). */
  ping(): void;
  /** The session closed: the reader tells the client and ends. */
  closed(close: SessionClose): void;
  /** Another reader took over, or the node stops serving: the reader ends without a close. */
  replaced(): void;
}
