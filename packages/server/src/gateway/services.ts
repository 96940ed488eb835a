import type { Logger } from 'pino';
import type { TokenVerifier } from '../auth/tokens.js';
import type { Assistants, Bus, Presence, SupportDesk, UserRateLimits } from '../core/ports.js';
import type { ConversationService } from '../conversations/service.js';
import type { ConversationLog } from '../log/conversation-log.js';
import type { Metrics } from '../observability/metrics.js';
import type { ExpiryClock } from './expiry-clock.js';
import type { UserConnections, UserSession } from './user-connections.js';
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

/** Everything a session needs, wired by the composition root. */
export interface GatewayServices {
  /** The use cases behind every operation but connecting and subscribing. */
  conversations: ConversationService;
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
  support: SupportDesk;
  hub: Hub;
  verifier: TokenVerifier;
  metrics: Metrics;
  logger: Logger;
  users: UserConnections<UserSession>;
  limits: SessionLimits;
  serverVersion: string;
  /** How long an out-of-order event waits for its predecessors before the gap is read from the log. */
  gapHoldMs: number;
}
