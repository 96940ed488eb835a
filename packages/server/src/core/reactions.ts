import type { ConversationEvent } from '@parley/protocol';
import type { ConversationKey } from './types.js';

/**
 * A module that acts on what happened (the AI orchestrator, webhooks, later the support desk's router):
 * it reads the durable events of every conversation of every tenant, in seq order per conversation, and keeps
 * its own cursor per conversation. Delivery is at least once: after a crash or a failed `handle`, the same
 * events come again, so a reaction must be idempotent (by event id or by seq). There is no order across
 * conversations.
 */
export interface Reaction {
  /** Stable name; its cursors are stored under it. Lowercase letters, digits and dashes. */
  readonly name: string;
  /**
   * Handles the next events of one conversation, ascending and contiguous by seq. The cursor moves past
   * them only when this resolves; a rejection retries them later (with backoff), without blocking other conversations.
   */
  handle(key: ConversationKey, events: ConversationEvent[]): Promise<void>;
}
