import type { ApiScope, Viewer } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { ConversationRecord, Principal } from '../core/types.js';

/**
 * What an operation does to a conversation:
 * `read` (get, history, subscribe, presence, members list), `send` (messages, typing, read markers, stop,
 * approvals), `manage` (metadata, members).
 */
export type ConversationAction = 'read' | 'send' | 'manage';

/** The scope a service principal needs for each action. */
const SCOPE_OF: Record<ConversationAction, ApiScope> = { read: 'conversations:read', send: 'messages:write', manage: 'conversations:write' };

/** Agents and admins: staff of the tenant's support desk. */
export function isStaff(principal: Principal): boolean {
  return principal.roles.includes('agent') || principal.roles.includes('admin');
}

/**
 * How the event catalogue's audiences see a principal: agents, admins and the tenant's own backend (an API
 * key) are staff, everyone else a member.
 */
export function viewerOf(principal: Pick<Principal, 'roles' | 'kind'>): Viewer {
  return principal.kind === 'service' || principal.roles.includes('agent') || principal.roles.includes('admin') ? 'staff' : 'member';
}

/** Throws `forbidden` unless the service principal holds `scope`; users pass (their roles decide elsewhere). */
export function requireScope(principal: Principal, scope: ApiScope): void {
  if (principal.kind === 'service' && !principal.scopes?.has(scope)) {
    throw new ParleyError('forbidden', `this API key lacks the ${scope} scope`, { details: { scope } });
  }
}

/**
 * Tenant administration (API keys, webhooks): a tenant admin, or an API key holding `scope`. Throws
 * `forbidden` with `refusal` (said to users who are not admins) or naming the missing scope.
 */
export function requireTenantAdmin(principal: Principal, scope: ApiScope, refusal: string): string {
  if (principal.kind === 'user' && !principal.roles.includes('admin')) throw new ParleyError('forbidden', refusal);
  requireScope(principal, scope);
  return principal.tenant;
}

/** Whether an agent reaches a support conversation: in the default inbox, in one of their teams, or assigned to them. */
export function agentReaches(conversation: ConversationRecord, agentId: string, teams: readonly string[]): boolean {
  const support = conversation.support;
  if (!support) return false;
  return support.team === null || teams.includes(support.team) || support.assigneeId === agentId;
}

/**
 * Decides whether `principal` may do `action` in `conversation`, given whether it is a member (asked only
 * when needed: large rooms answer it with a lookup) and, for agents, their teams. Throws `not_found` for a
 * missing conversation or another tenant's, `forbidden` otherwise. Users act where they are members; agents
 * also in the support conversations they reach (see agentReaches); admins everywhere; only the creator,
 * agents and admins manage; service principals by scope, in every conversation of their tenant.
 */
export async function authorizeConversation(
  principal: Principal,
  conversation: ConversationRecord | null,
  conversationId: string,
  action: ConversationAction,
  isMember: () => Promise<boolean>,
  agentTeams: () => Promise<readonly string[]> = async () => [],
): Promise<ConversationRecord> {
  if (!conversation || conversation.tenant !== principal.tenant) {
    throw new ParleyError('not_found', `conversation ${conversationId} does not exist`);
  }
  if (principal.kind === 'service') {
    requireScope(principal, SCOPE_OF[action]);
    return conversation;
  }
  if (principal.roles.includes('admin')) return conversation;
  if (principal.roles.includes('agent') && conversation.support && agentReaches(conversation, principal.userId, await agentTeams())) return conversation;
  if (!(await isMember())) throw new ParleyError('forbidden', `not a member of conversation ${conversationId}`);
  // A member who is an agent acts as staff in it (manages, sees staff events).
  if (isStaff(principal)) return conversation;
  if (action === 'manage' && conversation.createdBy !== principal.userId) {
    throw new ParleyError('forbidden', 'only the creator, agents and admins manage a conversation');
  }
  return conversation;
}
