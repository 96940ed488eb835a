import { identifierSchema, roleSchema, type Role } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';

/**
 * How an OpenID Connect provider's ID token becomes a principal. Providers put no `tenant` and no Parley
 * `roles` in their tokens, so both are mapped from claims the operator names.
 */
export interface OidcClaimMapping {
  /** The claim holding the user id (an identifier): `sub`, or for example Entra ID's `oid`. */
  userClaim: string;
  /**
   * The claim holding the provider's roles or groups: a list of strings, or one space- or comma-separated
   * string. A claim name is looked up as is first, then as a dotted path (`realm_access.roles`).
   */
  rolesClaim: string;
  /** Provider value → Parley role (a value may grant several); absent: the values user, agent and admin grant themselves. */
  roleMap?: ReadonlyArray<readonly [string, Role]>;
  /** The role of a token whose roles claim grants none; absent: such a token is refused. */
  defaultRole?: Role;
  /** The tenant: a fixed one for every user of the issuer, or the claim holding it. */
  tenant: { fixed: string } | { claim: string };
}

/** The tenant, user id and roles of a verified ID token's claims; `unauthorized` when a mapping finds nothing usable. */
export function mapOidcClaims(payload: Record<string, unknown>, mapping: OidcClaimMapping): { tenant: string; userId: string; roles: Role[] } {
  const userId = identifierClaim(payload, mapping.userClaim);
  const tenant = 'fixed' in mapping.tenant ? mapping.tenant.fixed : identifierClaim(payload, mapping.tenant.claim);
  const granted = grantedRoles(claimValue(payload, mapping.rolesClaim), mapping.roleMap);
  if (granted.length > 0) return { tenant, userId, roles: granted };
  if (mapping.defaultRole) return { tenant, userId, roles: [mapping.defaultRole] };
  throw new ParleyError('unauthorized', `the token's ${mapping.rolesClaim} claim grants no Parley role`, { details: { reason: 'no_role' } });
}

function identifierClaim(payload: Record<string, unknown>, claim: string): string {
  const value = identifierSchema.safeParse(claimValue(payload, claim));
  if (!value.success) throw new ParleyError('unauthorized', `the token's ${claim} claim is missing or not an identifier`, { details: { reason: 'claim_invalid', claim } });
  return value.data;
}

/** A claim by its exact name (Auth0's namespaced claims are URLs with dots), else by its dotted path. */
function claimValue(payload: Record<string, unknown>, claim: string): unknown {
  if (Object.hasOwn(payload, claim)) return payload[claim];
  let value: unknown = payload;
  for (const segment of claim.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

function grantedRoles(claim: unknown, roleMap: OidcClaimMapping['roleMap']): Role[] {
  const values = Array.isArray(claim) ? claim.filter((item): item is string => typeof item === 'string') : typeof claim === 'string' ? claim.split(/[\s,]+/) : [];
  const roles = new Set<Role>();
  for (const value of values) {
    if (roleMap) {
      for (const [from, role] of roleMap) if (from === value) roles.add(role);
    } else {
      const role = roleSchema.safeParse(value);
      if (role.success) roles.add(role.data);
    }
  }
  return [...roles].sort();
}
