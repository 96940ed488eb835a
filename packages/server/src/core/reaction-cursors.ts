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

/** A conversation to claim for a reaction; with `token`, a hold this node has and continues. */
export interface ClaimRequest {
  readonly key: ConversationKey;
  readonly token?: string;
  /** Events of the conversation this node has at hand (it just committed them), ascending and contiguous: not read again. */
  readonly known?: readonly ConversationEvent[];
}

/**
 * Where each reaction keeps its place in each conversation, and who handles it now. A (reaction,
 * conversation) is held by one node at a time under a lease (timed by the store's clock); a holder that
 * dies loses it when the lease runs out, and its events come again (at least once). Nothing here is held
 * open while a reaction handles events: every method is one short statement, and claims and settlements
 * of many conversations go together, so that a busy node costs the store a few statements per batch, not per event.
 */
export interface ReactionCursors {
  /** Records the reaction if it is new: it then starts with the events committed from now on (older ones are not its business). */
  register(reaction: string): Promise<void>;
  /**
   * Holds each requested conversation for `leaseMs` and reads up to `limit` events after its cursor (a cursor
   * that does not exist yet starts where the reaction started). Not in `claims`: those another node holds or
   * that wait for a retry (their holder is told to look again before it lets go), and `busy`, written by
   * another statement at this instant (ask again shortly).
   */
  claim(reaction: string, requests: ClaimRequest[], options: { leaseMs: number; limit: number }): Promise<{ claims: ReactionClaim[]; busy: ConversationKey[] }>;
  /** Extends the hold; false when it was lost (expired and taken by another node). */
  renew(claim: ReactionClaim, leaseMs: number): Promise<boolean>;
  /**
   * Moves each cursor to its `seq` (handled) and lets go, unless more may have come meanwhile (the
   * conversation is ahead, or another node was woken for it): then, with `keep`, `more` and still held
   * (due when the lease would run out, unless the conversation changed within `recentMs`, where the sweep
   * looks anyway); without (stopping), let go and due at once for any node. `lost` when the hold had expired.
   */
  settle(settlements: Array<{ claim: ReactionClaim; seq: number }>, options: { leaseMs: number; keep: boolean; recentMs: number }): Promise<Array<'released' | 'more' | 'lost'>>;
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
  /** The events not yet handled, as far as the sweep can see them: the append time of the oldest and how many. */
  backlog(reaction: string, lookbackMs: number): Promise<{ oldestTs: number | null; events: number }>;
}
