import type { Viewer } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { ConversationRecord, Principal } from '../core/types.js';

/** Agents and admins may act in every conversation of their tenant; users only where they are members. */
export function canAccessConversation(principal: Principal, conversation: ConversationRecord): boolean {
  if (principal.tenant !== conversation.tenant) return false;
  if (principal.roles.includes('agent') || principal.roles.includes('admin')) return true;
  return conversation.members.includes(principal.userId);
}

/** How the event catalogue's audiences see a principal: agents and admins are staff, everyone else a member. */
export function viewerOf(principal: Pick<Principal, 'roles'>): Viewer {
  return principal.roles.includes('agent') || principal.roles.includes('admin') ? 'staff' : 'member';
}

/** Throws `not_found` for a missing conversation and `forbidden` when the principal may not access it. */
export function authorizeConversation(principal: Principal, conversation: ConversationRecord | null, conversationId: string): ConversationRecord {
  if (!conversation || conversation.tenant !== principal.tenant) {
    throw new ParleyError('not_found', `conversation ${conversationId} does not exist`);
  }
  if (!canAccessConversation(principal, conversation)) {
    throw new ParleyError('forbidden', `not a member of conversation ${conversationId}`);
  }
  return conversation;
}
