import type { ServerFrame } from '@parley/protocol';

/**
 * One client connection below the conversation semantics: frames in, frames out, close.
 * WebSocket, SSE and long-polling implement it interchangeably.
 */
export interface ClientConnection {
  readonly id: string;
  readonly transport: string;
  readonly remoteAddress: string;
  /** Queues a frame. Returns false if the connection is closed or was just closed as a slow consumer. */
  send(frame: ServerFrame): boolean;
  /** Closes with a protocol close code (see CLOSE_CODES); further sends are dropped. */
  close(code: number, reason: string): void;
  readonly closed: boolean;
}

/** What a transport calls into: one handler per connection, created by the gateway. */
export interface ConnectionHandler {
  /** A frame arrived; `binary` tells how it travelled. */
  onFrame(data: string | Uint8Array, binary: boolean): void;
  onClose(code: number): void;
}
