import type { Logger } from 'pino';
import type { TokenVerifier } from '../auth/tokens.js';
import { CountMap } from '../core/count-map.js';
import type { Assistants, Bus, Presence, UserRateLimits } from '../core/ports.js';
import type { ConversationLog } from '../log/conversation-log.js';
import type { Metrics } from '../observability/metrics.js';
import type { ExpiryClock } from './expiry-clock.js';
import type { Hub } from './hub.js';
import type { PresenceDepartures } from './presence-departures.js';

/** Limits applied to every session. */
export interface SessionLimits {
  maxFrameBytes: number;
  connectTimeoutMs: number;
  ratePerSecond: number;
  rateBurst: number;
  maxPendingRequests: number;
  maxConnectionsPerUser: number;
  pingIntervalMs: number;
  /** Outbound bytes a connection may have queued before it is closed as a slow consumer. */
  maxBufferedBytes: number;
  /** How often a connection refreshes its presence entries. */
  presenceRefreshMs: number;
}

/** Counts connections per user on this node. */
export class UserConnections {
  private readonly counts = new CountMap<string>();

  /** Registers one more connection; false (and nothing registered) when the user is at `limit`. */
  add(tenant: string, userId: string, limit: number): boolean {
    const key = `${tenant}/${userId}`;
    if (this.counts.get(key) >= limit) return false;
    this.counts.increment(key);
    return true;
  }

  remove(tenant: string, userId: string): void {
    this.counts.decrement(`${tenant}/${userId}`);
  }
}

/** Everything a session needs, wired by the composition root. */
export interface GatewayServices {
  log: ConversationLog;
  bus: Bus;
  presence: Presence;
  /** Token expiries of every session, on one timer. */
  tokenExpiries: ExpiryClock;
  /** Leaves of connections lost without a closing handshake, held for the presence grace. */
  departures: PresenceDepartures;
  /** Messages per user, across every connection and node. */
  userSendRates: UserRateLimits;
  assistants: Assistants;
  hub: Hub;
  verifier: TokenVerifier;
  metrics: Metrics;
  logger: Logger;
  users: UserConnections;
  limits: SessionLimits;
  serverVersion: string;
  /** How long an out-of-order event waits for its predecessors before the gap is read from the log. */
  gapHoldMs: number;
}
