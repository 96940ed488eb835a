import { z } from 'zod';

/**
 * What a tenant API key may do. A `:write` scope includes the `:read` scope of the same resource.
 * A key never reaches another tenant, whatever its scopes.
 */
export const API_SCOPES = [
  'conversations:read', // get, list, history, members, presence
  'conversations:write', // create, update metadata, add and remove members
  'messages:write', // post messages (as a user, a bot or the system), publish to many conversations
  'users:write', // notify users, disconnect their sessions
  'tokens:write', // mint end-user tokens with the `user` role
  'tokens:agent', // mint tokens with the `agent` role too
  'webhooks:read',
  'webhooks:write',
  'keys:write', // create, list and revoke API keys of the tenant
  'support:read', // the support report, teams, agents and canned replies; staff-only events and inboxes
  'support:write', // hand off, assign, transfer, resolve, close, notes; manage teams, agents and canned replies
  'widgets:read', // list widget keys, see whether identity verification is on
  'widgets:write', // create, change and revoke widget keys, set the widget secret
  'knowledge:read', // list and read knowledge-base documents, search them
  'knowledge:write', // add, change and delete knowledge-base documents
] as const;

export const apiScopeSchema = z.enum(API_SCOPES);
export type ApiScope = z.infer<typeof apiScopeSchema>;

/** The scopes a key's scopes amount to, with each `:write` adding its `:read`. */
export function effectiveScopes(scopes: readonly ApiScope[]): ReadonlySet<ApiScope> {
  const result = new Set<ApiScope>(scopes);
  for (const scope of scopes) {
    const read = scope.replace(/:write$/, ':read');
    if (read !== scope && (API_SCOPES as readonly string[]).includes(read)) result.add(read as ApiScope);
  }
  return result;
}
