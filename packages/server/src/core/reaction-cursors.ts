import type { ConversationEvent } from '@parley/protocol';
import type { ConversationKey } from './types.js';

/** One (reaction, conversation) held by this node, with the events after its cursor. */
export interface ReactionClaim {
  readonly reaction: string;
  readonly key: ConversationKey;
  /** Names this hold; only its holder moves the cursor. */
  readonly token: string;
  /** The last seq the reaction has handled. */
  readonly seq: number;
  /** Failed attempts on these events so far (for the backoff). */
  readonly attempts: number;
  /** The next events after `seq`, ascending and contiguous, at most the page asked for. */
  readonly events: ConversationEvent[];
}

/**
 * Where each reaction keeps its place in each conversation, and who handles it now. A (reaction,
 * conversation) is held by one node at a time under a lease (timed by the store's clock); a holder that
 * dies loses it when the lease runs out, and its events come again (at least once). Nothing here is held
 * open while a reaction handles events: every method is one short statement.
 */
export interface ReactionCursors {
  /** Records the reaction if it is new: it then starts with the events committed from now on (older ones are not its business). */
  register(reaction: string): Promise<void>;
  /**
   * Holds the conversation for `leaseMs` and reads up to `limit` events after the cursor (a cursor that does
   * not exist yet starts where the reaction started). `token` continues a hold this node has. Null when
   * another node holds it or it waits for a retry: the holder is then told to look again before it lets go.
   */
  claim(reaction: string, key: ConversationKey, options: { leaseMs: number; limit: number; token?: string }): Promise<ReactionClaim | null>;
  /** Extends the hold; false when it was lost (expired and taken by another node). */
  renew(claim: ReactionClaim, leaseMs: number): Promise<boolean>;
  /**
   * Moves the cursor to `seq` (handled) and lets go, unless more may have come meanwhile (the conversation
   * is ahead, or another node was woken for it): then `more`, still held. `lost` when the hold had expired.
   */
  settle(claim: ReactionClaim, seq: number, leaseMs: number): Promise<'released' | 'more' | 'lost'>;
  /** Lets go after a failure; the events are due again after `retryInMs`. */
  fail(claim: ReactionClaim, retryInMs: number, error: string): Promise<void>;
  /**
   * The sweep, by one node at a time per reaction: marks as due the conversations changed since the last
   * sweep (less `lookbackMs`, the longest an append may take to commit) whose cursor is behind. False
   * when another node sweeps now.
   */
  sweep(reaction: string, options: { lookbackMs: number; limit: number; intervalMs: number }): Promise<boolean>;
  /** Conversations due: marked by the sweep, waiting for a retry that is due, or held under a lease that expired. */
  due(reaction: string, limit: number): Promise<ConversationKey[]>;
  /** The events not yet handled, as far as the sweep can see them: the age of the oldest and how many. */
  backlog(reaction: string, lookbackMs: number): Promise<{ oldestTs: number | null; events: number }>;
}
