import type { HandoffSettings } from './handoff-settings.js';
import type { Actor, ConversationEvent, GenerationText, OperationResult } from '@parley/protocol';
import type { ConversationKey, ConversationRecord } from './types.js';

/** What `Assistants.admit` hands back: the reservation for the answer to one message. */
export interface Admission {
  /** The message was committed (not a duplicate): start its answer. */
  committed(event: ConversationEvent): void;
  /** The message was not committed, or was a duplicate: give the reservation back. */
  release(): void;
}

/**
 * The AI side as the gateway sees it. It decides, before a user message is committed, whether the
 * conversation's assistant can take it, so that a full queue or a policy refusal reaches the sender as an
 * error instead of a silent wait.
 */
export interface Assistants {
  /** Whether `profileId` names a configured assistant profile. */
  hasProfile(profileId: string): boolean;
  /** When a profile hands its conversations to people; null for an unknown profile. */
  handoffSettings(profileId: string): HandoffSettings | null;
  /** Throws ParleyError (`busy` when the queue is full, `conflict` under the `reject` double-texting policy, ...) or reserves the answer. */
  admit(conversation: ConversationRecord, sender: Actor): Promise<Admission>;
  /** Stops the conversation's running generation (only `generationId`, if given); returns the ids stopped. */
  stop(key: ConversationKey, generationId?: string, reason?: 'user' | 'handoff'): Promise<string[]>;
  /**
   * Records the decision on a tool call waiting for approval; the first decision wins and re-sent ones
   * return it with `duplicate: true`, so the tool runs at most once. Throws `not_found` for an unknown approval.
   */
  resolveApproval(key: ConversationKey, approvalId: string, approved: boolean, by: Actor): Promise<{ approved: boolean; duplicate: boolean }>;
  /** The context a recent generation of the conversation sent to its model, or null when no longer kept. */
  inspectContext(key: ConversationKey, generationId: string): Promise<OperationResult<'ai.context'> | null>;
  /** The text so far of the conversation's running generations, for subscribers that arrive mid-answer. */
  snapshots(key: ConversationKey): Promise<GenerationText[]>;
}
