import type { WebSocketConstructor, WebSocketLike } from './websocket.js';

/** Where and how to probe. */
export interface ProbeOptions {
  WebSocket: WebSocketConstructor;
  url: string;
  subprotocol: string;
  intervalMs: number;
  /** How long a probe may take to open before it counts as failed. */
  timeoutMs: number;
  /** Called once, when a probe opened. */
  onOpen(): void;
}

/**
 * While the client runs on an HTTP fallback, tries a WebSocket every `intervalMs`. The probe socket is closed
 * as soon as it opens (it never says `connect`); the client then moves its connection back to a WebSocket.
 */
export class WebSocketProbe {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private socket: WebSocketLike | undefined;
  private stopped = false;

  constructor(private readonly options: ProbeOptions) {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.discard();
  }

  private schedule(): void {
    if (!this.stopped) this.timer = setTimeout(() => this.probe(), this.options.intervalMs);
  }

  private probe(): void {
    let socket: WebSocketLike;
    try {
      socket = new this.options.WebSocket(this.options.url, this.options.subprotocol);
    } catch {
      return this.schedule();
    }
    this.socket = socket;
    const timeout = setTimeout(() => this.failed(socket), this.options.timeoutMs);
    socket.onopen = () => {
      clearTimeout(timeout);
      this.discard();
      if (this.stopped) return;
      this.stopped = true;
      this.options.onOpen();
    };
    socket.onclose = () => {
      clearTimeout(timeout);
      this.failed(socket);
    };
    socket.onerror = () => {};
  }

  private failed(socket: WebSocketLike): void {
    if (this.socket !== socket) return;
    this.discard();
    this.schedule();
  }

  private discard(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    socket.onopen = socket.onclose = null;
    try {
      socket.close(1000, 'probe');
    } catch {
      // Still connecting in some implementations: closing then throws, and the socket is dropped anyway.
    }
  }
}
