import type { ConversationEvent, Signal, StaffEvent } from '@parley/protocol';
import type { Principal } from '../core/types.js';
import type { ClientConnection } from './connection.js';
import type { GatewayServices } from './services.js';
import type { UserSession } from './user-connections.js';

/** What operations and subscriptions may do with the session they serve. */
export interface SessionContext extends UserSession {
  readonly principal: Principal | null;
  readonly connection: ClientConnection;
  readonly services: GatewayServices;
  /** Becomes authenticated as `principal`; false when the user has too many connections. */
  authenticate(principal: Principal): boolean;
  /** Replaces the token of an authenticated session. */
  refresh(principal: Principal): void;
  sendEvent(event: ConversationEvent): void;
  sendSignal(signal: Signal): void;
  /** A staff-only event (staff subscriptions only). */
  sendStaffEvent(event: StaffEvent): void;
  /** Tells the client why, then closes. */
  close(code: number, reason: string): void;
  /** Resolves when the client has read enough of its backlog to take more; undefined if it already has. */
  drained(): Promise<void> | undefined;
}
