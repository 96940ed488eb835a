import type { KeyValueStore } from '../identity';
import { fetchSignedInPrincipal, oidcTokenSource, signOutOidc, startOidcSignIn, type OidcConfig } from '../oidc';

/** The roles that may use the console. */
export type StaffRole = 'agent' | 'admin';

/**
 * A signed-in agent or admin: who they are and where a bearer token comes from. The console uses `token()` for
 * the WebSocket (on every connect) and for the admin REST routes, so the sign-in method decides how tokens are
 * kept fresh: development tokens are simply fetched again, an OIDC sign-in renews its ID token with its refresh token.
 */
export interface StaffSession {
  method: 'development' | 'oidc';
  tenant: string;
  userId: string;
  name: string | null;
  role: StaffRole;
  token(): Promise<string>;
  /** Forgets the sign-in (and whatever the method keeps). */
  signOut(): void;
}

/**
 * The sign-in button for the configured OIDC issuer. `start` leaves the page for the issuer's authorization
 * endpoint; the console's entry point (`agent/main.tsx`, `signInOptions`) completes the sign-in on the way back
 * and hands a StaffSession to the console. Absent: the server has no OIDC issuer configured.
 */
export interface OidcSignIn {
  /** The button's text, e.g. "Sign in with idp.example.com". */
  label: string;
  start(): Promise<void>;
}

/** The console's OIDC sign-in for `config`: a button named after the issuer's host. */
export function oidcSignIn(config: OidcConfig): OidcSignIn {
  return { label: `Sign in with ${new URL(config.issuer).host}`, start: () => startOidcSignIn(config) };
}

/**
 * The staff session of the OIDC sign-in this tab keeps (just completed, or kept from before a reload). The
 * server maps the ID token to tenant, user id and roles, so it is asked; anyone it makes neither agent nor admin
 * is refused, and the tab forgets the sign-in, so that the next one may be someone else's.
 */
export async function oidcStaffSession(config: OidcConfig): Promise<StaffSession> {
  const token = oidcTokenSource(config);
  try {
    // The token source, not the kept ID token: after a reload that one may have expired, and is renewed here.
    const principal = await fetchSignedInPrincipal(await token());
    const role = principal.roles.includes('admin') ? 'admin' : principal.roles.includes('agent') ? 'agent' : null;
    if (!role) throw new Error('This account is neither an agent nor an admin: the console is for the support team.');
    return { method: 'oidc', tenant: principal.tenant, userId: principal.userId, name: principal.name ?? null, role, token, signOut: signOutOidc };
  } catch (error) {
    signOutOidc();
    throw error;
  }
}

/** What the development sign-in form asks for. */
export interface DevSignInForm {
  tenant: string;
  userId: string;
  name: string;
  role: StaffRole;
}

const DEV_SESSION_KEY = 'parley.agent.dev-session';
const IDENTIFIER = /^[A-Za-z0-9_.:@-]{1,128}$/;

/** Thrown when the server issues no development tokens (it runs with a real JWT secret, a JWKS or OIDC). */
export class DevTokensOff extends Error {}

/** Checks the form; returns what is wrong, or null. */
export function checkDevSignIn(form: DevSignInForm): string | null {
  if (!IDENTIFIER.test(form.tenant)) return 'The tenant must be 1 to 128 letters, digits or . _ : @ -';
  if (!IDENTIFIER.test(form.userId)) return 'The user id must be 1 to 128 letters, digits or . _ : @ -';
  if (form.name.trim().length > 200) return 'The display name is at most 200 characters';
  return null;
}

/** A development token from the server that served this page, for a staff member with that role and name. */
export async function fetchStaffDevToken(form: DevSignInForm): Promise<string> {
  const query = new URLSearchParams({ user: form.userId, tenant: form.tenant, role: form.role });
  if (form.name.trim()) query.set('name', form.name.trim());
  const response = await fetch(`/v1/dev/token?${query.toString()}`, { cache: 'no-store' });
  if (response.status === 404) throw new DevTokensOff('this server issues no development tokens');
  if (!response.ok) throw new Error(`the token endpoint answered ${response.status}`);
  const body = (await response.json()) as { token?: unknown };
  if (typeof body.token !== 'string' || body.token.length === 0) throw new Error('the token endpoint returned no token');
  return body.token;
}

/** Signs in with a development token (fetched once now, to fail early, and again for every connect); kept in `store`. */
export async function devSignIn(form: DevSignInForm, store: KeyValueStore): Promise<StaffSession> {
  const problem = checkDevSignIn(form);
  if (problem) throw new Error(problem);
  await fetchStaffDevToken(form);
  store.set(DEV_SESSION_KEY, JSON.stringify(form));
  return devSession(form, store);
}

/** The development sign-in kept from an earlier visit, if any. */
export function restoreDevSession(store: KeyValueStore): StaffSession | undefined {
  const kept = store.get(DEV_SESSION_KEY);
  if (!kept) return undefined;
  try {
    const form = JSON.parse(kept) as DevSignInForm;
    if ((form.role === 'agent' || form.role === 'admin') && checkDevSignIn(form) === null) return devSession(form, store);
  } catch {
    // unreadable: sign in again
  }
  store.remove(DEV_SESSION_KEY);
  return undefined;
}

function devSession(form: DevSignInForm, store: KeyValueStore): StaffSession {
  return {
    method: 'development',
    tenant: form.tenant,
    userId: form.userId,
    name: form.name.trim() || null,
    role: form.role,
    token: () => fetchStaffDevToken(form),
    signOut: () => store.remove(DEV_SESSION_KEY),
  };
}
