import type { Actor, ConversationEvent } from '@parley/protocol';
import type { AppendInput, AppendResult, ConversationKey, ConversationMemory, ConversationRecord, NewConversation, RangeQuery } from './types.js';

/**
 * Durable storage of conversations and their events; the commit point of the delivery contract.
 * `append` is atomic: the event is stored with the next seq (gapless per conversation) or not at all,
 * and concurrent appends to one conversation are serialized. Nothing is acknowledged before it returns.
 */
export interface Store {
  migrate(): Promise<void>;
  /** Resolves when the store answers a trivial query. */
  ping(): Promise<void>;
  /** Creates the conversation and its `conversation.created` event (seq 1) in one transaction; returns the existing one if the id is taken. */
  createConversation(input: NewConversation): Promise<{ conversation: ConversationRecord; event: ConversationEvent | null }>;
  getConversation(key: ConversationKey): Promise<ConversationRecord | null>;
  /** Appends one event. With `causation.clientMsgId`, a repeat by the same actor returns the original (`duplicate: true`). */
  append(input: AppendInput): Promise<AppendResult>;
  /** Events of a seq range, always returned in ascending seq order. */
  readRange(key: ConversationKey, query: RangeQuery): Promise<ConversationEvent[]>;
  /**
   * Moves a member's read marker forward (never back) and, with `durable`, appends `receipt.read` when it
   * moved, atomically (large rooms move the marker without an event).
   */
  markRead(key: ConversationKey, userId: string, seq: number, durable: boolean): Promise<{ seq: number; moved: boolean; event: ConversationEvent | null }>;
  /** Merges `patch` into the metadata (a null value deletes its key) and appends `conversation.updated`, atomically. */
  updateMetadata(key: ConversationKey, patch: Record<string, unknown>, actor: Actor): Promise<{ conversation: ConversationRecord; event: ConversationEvent } | null>;
  getMemory(key: ConversationKey): Promise<ConversationMemory | null>;
  /** Stores a summary only if it reaches further than the stored one (concurrent refreshes cannot go back). */
  putMemory(key: ConversationKey, summary: string, throughSeq: number): Promise<boolean>;
  close(): Promise<void>;
}
