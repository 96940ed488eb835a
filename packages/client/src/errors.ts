import { RETRYABLE_CODES, type ErrorBody, type ErrorCode } from '@parley/protocol';

/** Failures that happen on the client's side of the wire rather than in a server reply. */
export type LocalErrorCode = 'timeout' | 'closed' | 'disconnected';

/** Every code a ParleyClientError can carry: the protocol catalogue plus the client's own failures. */
export type ClientErrorCode = ErrorCode | LocalErrorCode;

/** Local failures after which the same request may be sent again (it may or may not have been applied). */
const RETRYABLE_LOCAL_CODES: ReadonlySet<ClientErrorCode> = new Set<ClientErrorCode>(['timeout', 'disconnected']);

/** Extra facts about a ParleyClientError. */
export interface ParleyClientErrorOptions {
  retryAfterMs?: number | undefined;
  closeCode?: number | undefined;
  details?: Record<string, unknown> | undefined;
  cause?: unknown;
}

/** The one error type of the client: every rejected promise and every 'error' event carries one. */
export class ParleyClientError extends Error {
  readonly code: ClientErrorCode;
  /** Whether sending the same request again may succeed. */
  readonly retryable: boolean;
  /** How long the server asked the client to wait before retrying. */
  readonly retryAfterMs: number | undefined;
  /** The WebSocket close code, when the error comes from the server closing the connection. */
  readonly closeCode: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ClientErrorCode, message: string, options: ParleyClientErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'ParleyClientError';
    this.code = code;
    this.retryable = RETRYABLE_CODES.has(code as ErrorCode) || RETRYABLE_LOCAL_CODES.has(code);
    this.retryAfterMs = options.retryAfterMs;
    this.closeCode = options.closeCode;
    this.details = options.details;
  }

  /** The client form of an error reply from the server. */
  static fromBody(body: ErrorBody): ParleyClientError {
    return new ParleyClientError(body.code, body.message, { retryAfterMs: body.retryAfterMs, details: body.details });
  }
}

/** The error for anything attempted on, or cut short by, a client that was closed. */
export function closedError(message = 'the client is closed'): ParleyClientError {
  return new ParleyClientError('closed', message);
}

/** The error for a request that was in flight when its connection dropped. */
export function disconnectedError(message = 'the connection dropped before a reply arrived'): ParleyClientError {
  return new ParleyClientError('disconnected', message);
}

/** The error for a connection the server closed for good (a close code the client must not reconnect after). */
export function closeCodeError(code: number, reason: string): ParleyClientError {
  const message = `the server closed the connection with ${code}${reason ? ` (${reason})` : ''}`;
  return new ParleyClientError(code === 4500 ? 'unauthorized' : 'closed', message, { closeCode: code });
}

/** Any thrown value as a ParleyClientError; foreign errors become `internal` and keep the original as `cause`. */
export function toClientError(error: unknown): ParleyClientError {
  if (error instanceof ParleyClientError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ParleyClientError('internal', message, { cause: error });
}
