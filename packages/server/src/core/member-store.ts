import type { Actor, ConversationEvent } from '@parley/protocol';
import type { ConversationKey, ConversationListing, MemberRecord, Page } from './types.js';

/** Where a user's conversation list continues: after this conversation, in (last activity, id) descending order. */
export interface ActivityCursor {
  lastEventAt: number;
  conversationId: string;
}

/**
 * Conversation membership, without a cap on members. Changes are atomic with their durable event: the members
 * change and the event takes its seq in one transaction, or neither happens.
 */
export interface MemberStore {
  /** Adds the users who are not members yet and appends one `members.added` listing them; nothing to add: no event. */
  addMembers(key: ConversationKey, userIds: string[], actor: Actor): Promise<{ added: string[]; event: ConversationEvent | null }>;
  /** Removes the users who are members and appends one `members.removed` listing them; nothing to remove: no event. */
  removeMembers(key: ConversationKey, userIds: string[], actor: Actor): Promise<{ removed: string[]; event: ConversationEvent | null }>;
  /** One point lookup, for conversations too large to carry their members. */
  isMember(key: ConversationKey, userId: string): Promise<boolean>;
  /** Members in user id order, after `after` (exclusive). */
  listMembers(key: ConversationKey, after: string | null, limit: number): Promise<Page<MemberRecord, string>>;
  /** The conversations the user is a member of, most recently active first. */
  listConversations(tenant: string, userId: string, after: ActivityCursor | null, limit: number): Promise<Page<ConversationListing, ActivityCursor>>;
}
