import { isStaff } from '../auth/authorization.js';
import type { Server } from 'node:http';
import { CLOSE_CODES, jsonCodec, type Codec } from '@parley/protocol';
import type { ControlMessage, RealtimeHttp } from '../core/ports.js';
import type { ConnectionAdmission } from './admission.js';
import type { ClientConnection } from './connection.js';
import { HttpTransport, type HttpTransportOptions } from './http-transport.js';
import { newSessionId, Session, type SessionOwner } from './session.js';
import type { GatewayServices } from './services.js';
import { WebSocketTransport, type WebSocketTransportOptions } from './websocket.js';

/** How the gateway serves clients: every transport's settings. */
export type GatewayListenOptions = WebSocketTransportOptions &
  Omit<HttpTransportOptions, 'pingIntervalMs' | 'pingTimeoutMs'> & {
    /** Who may open a connection, shared by every transport of the node (the AI SDK's WebSocket too). */
    admission: ConnectionAdmission;
  };

/** The gateway: transports below, sessions above, and the shutdown sequence. */
export class Gateway implements SessionOwner {
  private readonly sessions = new Set<Session>();
  private transport: WebSocketTransport | null = null;
  private http: HttpTransport | null = null;
  private draining = false;
  /** One timer for every connection's presence heartbeat, rather than one per connection (idle memory). */
  private presenceRefresh: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly services: GatewayServices) {
    services.bus.onControl((message) => this.control(message));
  }

  /** Instructions from any node about users connected here: access lost, a notice, a forced disconnect. */
  private control(message: ControlMessage): void {
    const { users, logger } = this.services;
    if (message.type === 'members.removed') {
      for (const userId of message.userIds) {
        for (const session of users.of(message.tenant, userId)) {
          session.revoke(message.conversationId).catch((error: unknown) => logger.warn({ err: error }, 'ending a revoked subscription failed'));
        }
      }
    } else if (message.type === 'user.notify') {
      for (const session of users.of(message.tenant, message.userId)) session.notify(message.notification);
    } else if (message.type === 'user.disconnect') {
      const code = message.reconnect ? CLOSE_CODES.disconnectedByServer : CLOSE_CODES.disconnectedFinal;
      for (const session of users.of(message.tenant, message.userId)) session.close(code, 'disconnected by the server');
    }
  }

  /**
   * Serves WebSocket clients on `server`, and returns the HTTP transports (SSE, HTTP streaming, long-poll)
   * for the HTTP routes. Every transport's sessions are this gateway's alike (shutdown, staff presence).
   */
  async listen(server: Server, options: GatewayListenOptions): Promise<RealtimeHttp> {
    const { admission } = options;
    this.transport = new WebSocketTransport(server, options, admission, (connection, codec) => this.accept(connection, codec), newSessionId);
    this.http = new HttpTransport(this.services.bus, options, admission, (connection) => this.accept(connection, jsonCodec), (error) =>
      this.services.logger.warn({ err: error }, 'HTTP transport: a forwarded request failed'),
    );
    await this.http.start();
    this.presenceRefresh = setInterval(() => {
      for (const session of this.sessions) session.refreshPresence();
    }, this.services.limits.presenceRefreshMs);
    this.presenceRefresh.unref();
    return this.http;
  }

  /** A transport's new connection: its session is the connection's handler (no closures per connection: idle memory). */
  private accept(connection: ClientConnection, codec: Codec): Session {
    const session = new Session(connection, this.services, codec, this);
    this.sessions.add(session);
    this.services.metrics.connectionsOpen.inc({ transport: connection.transport });
    return session;
  }

  ended(session: Session): void {
    this.sessions.delete(session);
    this.services.metrics.connectionsOpen.dec({ transport: session.connection.transport });
  }

  /** The agents and admins connected to this node, by tenant (routing counts them as present). */
  connectedStaff(): Map<string, string[]> {
    const byTenant = new Map<string, Set<string>>();
    for (const session of this.sessions) {
      const principal = session.principal;
      if (!principal || !isStaff(principal)) continue;
      let users = byTenant.get(principal.tenant);
      if (!users) byTenant.set(principal.tenant, (users = new Set()));
      users.add(principal.userId);
    }
    return new Map([...byTenant].map(([tenant, users]) => [tenant, [...users]]));
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
    this.http?.close();
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
