import type { ServerFrame } from '@parley/protocol';

/**
 * One client connection below the conversation semantics: frames in, frames out, close.
 * WebSocket, SSE and long-polling implement it interchangeably.
 */
export interface ClientConnection {
  readonly id: string;
  readonly transport: string;
  readonly remoteAddress: string;
  /**
   * Queues a frame. Returns false if the connection is closed. `shared` names content that many connections
   * receive unchanged (the event or signal of a push): it is encoded and framed once for all of them.
   */
  send(frame: ServerFrame, shared?: object): boolean;
  /** Bytes queued for the client and not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Resolves once at most `lowBytes` are queued, or undefined when that is already so (replays pace themselves with it). */
  drained(lowBytes: number): Promise<void> | undefined;
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
