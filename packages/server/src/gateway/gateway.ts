import type { Server } from 'node:http';
import { CLOSE_CODES } from '@parley/protocol';
import { newSessionId, Session } from './session.js';
import type { GatewayServices } from './services.js';
import { WebSocketTransport, type WebSocketTransportOptions } from './websocket.js';

/** The gateway: transports below, sessions above, and the shutdown sequence. */
export class Gateway {
  private readonly sessions = new Set<Session>();
  private transport: WebSocketTransport | null = null;
  private draining = false;
  /** One timer for every connection's presence heartbeat, rather than one per connection (idle memory). */
  private presenceRefresh: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly services: GatewayServices) {}

  /** Serves WebSocket clients on `server`. */
  listen(server: Server, options: Omit<WebSocketTransportOptions, 'isDraining'>): void {
    this.transport = new WebSocketTransport(
      server,
      { ...options, isDraining: () => this.draining },
      (connection, codec) => {
        const session = new Session(connection, this.services, codec);
        this.sessions.add(session);
        this.services.metrics.connectionsOpen.inc({ transport: connection.transport });
        return {
          onFrame: (data, binary) => session.onFrame(data, binary),
          onClose: (code) => {
            this.sessions.delete(session);
            this.services.metrics.connectionsOpen.dec({ transport: connection.transport });
            session.onClose(code);
          },
        };
      },
      newSessionId,
    );
    this.presenceRefresh = setInterval(() => {
      for (const session of this.sessions) session.subscriptions.refreshPresence();
    }, this.services.limits.presenceRefreshMs);
    this.presenceRefresh.unref();
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Refuses new connections and requests, lets queued requests (appends) finish within `graceMs`,
   * then tells every client to reconnect elsewhere (4000) and waits briefly for the sockets to close.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.draining = true;
    await withTimeout(Promise.allSettled([...this.sessions].map((session) => session.drain())), graceMs);
    for (const session of this.sessions) session.close(CLOSE_CODES.serverShutdown, 'server restart');
    await withTimeout(waitUntil(() => this.sessions.size === 0), 2000);
    await this.services.departures.flush();
    this.transport?.close();
    if (this.presenceRefresh) clearInterval(this.presenceRefresh);
  }
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}
