/**
 * Agents' sign-in at an OpenID Connect provider from a single-page app: the authorization code flow with PKCE
 * (RFC 7636, S256), `state` and `nonce`, over oauth4webapi. The console is a public client: it has no secret,
 * the code verifier proves that the tab that started the sign-in is the one that finishes it.
 *
 * Parley's bearer token is the ID token: its audience is always the console's client id, which the server
 * checks (PARLEY_OIDC_CLIENT_ID), and it carries the `name` and `picture` the other side sees. Access tokens are
 * meant for APIs named by the provider's own audience rules (often not a JWT at all), so they are not used.
 *
 * What is kept, and where: the sign-in in progress (verifier, state, nonce) and the session (ID token, refresh
 * token) live in sessionStorage, one tab only and gone with it, so that a reload of the console does not
 * bounce through the provider. Nothing but the authorization code ever travels in a URL, and the code is
 * removed from the address bar and the history before it is exchanged.
 */
import type { Role } from '@parley/protocol';
import * as oauth from 'oauth4webapi';

/** What `GET /v1/web/auth` answers: how the server wants the pages to sign in. */
export type SignInMode = { mode: 'oidc'; issuer: string; clientId: string; scopes: string } | { mode: 'development' } | { mode: 'none' };

/** The console's registration at the provider. `redirectUri` is registered there exactly (e.g. `https://chat.example.com/agent`). */
export interface OidcConfig {
  issuer: string;
  clientId: string;
  /** Space-separated; `openid` included. */
  scopes: string;
  redirectUri: string;
}

/** A signed-in agent. */
export interface OidcSession {
  /** The ID token: the bearer for Parley. */
  idToken: string;
  /** When the ID token expires, ms since epoch. */
  expiresAt: number;
  /** When to renew it (three quarters of its lifetime), ms since epoch. */
  renewAt: number;
  /** Present when the provider issues refresh tokens (usually for the `offline_access` scope). */
  refreshToken?: string;
  /** The `sub` claim. */
  subject: string;
  name?: string;
  picture?: string;
}

/** A sign-in that cannot go on: the message is meant for the person signing in. */
export class OidcSignInError extends Error {
  override name = 'OidcSignInError';
}

const PENDING_KEY = 'parley.oidc.pending';
const SESSION_KEY = 'parley.oidc.session';
// Parameters of the authorization response (RFC 6749 4.1.2, RFC 9207 iss, OIDC session_state) removed from the address bar.
const RESPONSE_PARAMETERS = ['code', 'state', 'iss', 'session_state', 'error', 'error_description', 'error_uri'];

interface PendingSignIn {
  issuer: string;
  clientId: string;
  redirectUri: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** How the server that served this page wants it to sign in. */
export async function fetchSignInMode(): Promise<SignInMode> {
  const response = await fetch('/v1/web/auth', { cache: 'no-store' });
  if (!response.ok) throw new Error(`the sign-in endpoint answered ${response.status}`);
  return (await response.json()) as SignInMode;
}

/** The OIDC configuration of a sign-in mode, with the page's own address (without query or fragment) as the redirect URI. */
export function oidcConfig(mode: Extract<SignInMode, { mode: 'oidc' }>, redirectUri: string): OidcConfig {
  return { issuer: mode.issuer, clientId: mode.clientId, scopes: mode.scopes, redirectUri };
}

/** Who the server makes of a token: tenant, user id and roles as it maps the provider's claims, with name and picture. */
export interface SignedInPrincipal {
  tenant: string;
  userId: string;
  roles: Role[];
  name?: string;
  picture?: string;
}

/** Asks the server who `token` signs in (`GET /v1/web/auth/principal`); OidcSignInError with the server's reason when it refuses it. */
export async function fetchSignedInPrincipal(token: string): Promise<SignedInPrincipal> {
  const response = await fetch('/v1/web/auth/principal', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  const body = (await response.json().catch(() => undefined)) as (SignedInPrincipal & { error?: { message?: string } }) | undefined;
  if (!response.ok || !body) throw new OidcSignInError(`the server refused the sign-in: ${body?.error?.message ?? `HTTP ${response.status}`}`);
  return body;
}

/** Sends the browser to the provider's authorization endpoint; the provider sends it back to `redirectUri` with a code. */
export async function startOidcSignIn(config: OidcConfig): Promise<void> {
  const server = await authorizationServer(config.issuer);
  if (!server.authorization_endpoint) throw new OidcSignInError(`${config.issuer} names no authorization endpoint`);
  const pending: PendingSignIn = {
    issuer: config.issuer,
    clientId: config.clientId,
    redirectUri: config.redirectUri,
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    codeVerifier: oauth.generateRandomCodeVerifier(),
  };
  const url = new URL(server.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: config.scopes,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(pending.codeVerifier),
    code_challenge_method: 'S256',
  }).toString();
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  location.assign(url.href);
}

/** Whether `url` is the provider's answer to a sign-in (a code or an error, with its state). */
export function isOidcCallback(url: URL): boolean {
  return url.searchParams.has('state') && (url.searchParams.has('code') || url.searchParams.has('error'));
}

/**
 * Finishes the sign-in the provider sent the browser back from: checks the state, exchanges the code with
 * the PKCE verifier, validates the ID token's issuer, audience, nonce and expiry, and keeps the session.
 * The response parameters are removed from the address bar first, so a reload never replays the code.
 */
export async function completeOidcSignIn(config: OidcConfig, url: URL = new URL(location.href)): Promise<OidcSession> {
  history.replaceState(history.state, '', withoutResponseParameters(url));
  const pending = takePendingSignIn();
  if (!pending || pending.issuer !== config.issuer || pending.clientId !== config.clientId) {
    throw new OidcSignInError('no sign-in was started in this tab: sign in again');
  }
  const server = await authorizationServer(config.issuer);
  const client: oauth.Client = { client_id: config.clientId };
  try {
    const parameters = oauth.validateAuthResponse(server, client, url, pending.state);
    const response = await oauth.authorizationCodeGrantRequest(server, client, oauth.None(), parameters, pending.redirectUri, pending.codeVerifier, requestOptions(config.issuer));
    const result = await oauth.processAuthorizationCodeResponse(server, client, response, { expectedNonce: pending.nonce, requireIdToken: true });
    return keepSession(sessionOf(result));
  } catch (error) {
    throw asSignInError(error);
  }
}

/** The session this tab kept, if its ID token is still valid or it can be renewed. */
export function storedOidcSession(now = Date.now()): OidcSession | undefined {
  const text = sessionStorage.getItem(SESSION_KEY);
  if (!text) return undefined;
  try {
    const session = JSON.parse(text) as OidcSession;
    if (typeof session.idToken === 'string' && (session.expiresAt > now || session.refreshToken)) return session;
  } catch {
    // not ours, or damaged: forgotten below
  }
  sessionStorage.removeItem(SESSION_KEY);
  return undefined;
}

/** Renews the ID token with the refresh token (rotated by most providers: the new one replaces it). */
export async function refreshOidcSession(config: OidcConfig, session: OidcSession): Promise<OidcSession> {
  if (!session.refreshToken) throw new OidcSignInError('the session has expired: sign in again');
  const server = await authorizationServer(config.issuer);
  const client: oauth.Client = { client_id: config.clientId };
  try {
    const response = await oauth.refreshTokenGrantRequest(server, client, oauth.None(), session.refreshToken, requestOptions(config.issuer));
    const result = await oauth.processRefreshTokenResponse(server, client, response);
    if (!result.id_token) throw new OidcSignInError('the provider renewed no ID token: sign in again');
    return keepSession(sessionOf(result, session));
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant') signOutOidc(); // revoked or reused: nothing to retry
    throw asSignInError(error);
  }
}

/**
 * A token provider for the Parley client (`new ParleyClient({ token: oidcTokenSource(config) })`): the kept ID
 * token, renewed once three quarters of its lifetime have passed. One renewal at a time, because a rotated
 * refresh token must not be spent twice. Throws OidcSignInError when the agent must sign in again.
 */
export function oidcTokenSource(config: OidcConfig): () => Promise<string> {
  let renewing: Promise<OidcSession> | undefined;
  return async () => {
    const session = storedOidcSession();
    if (!session) throw new OidcSignInError('not signed in');
    if (Date.now() < session.renewAt || (!session.refreshToken && Date.now() < session.expiresAt)) return session.idToken;
    renewing ??= refreshOidcSession(config, session).finally(() => (renewing = undefined));
    try {
      return (await renewing).idToken;
    } catch (error) {
      // The provider is unreachable for now: the token still works until it expires, and the next call tries again.
      if (Date.now() < session.expiresAt) return session.idToken;
      throw error;
    }
  };
}

/** Forgets this tab's session and any sign-in in progress (the provider's own session is left alone). */
export function signOutOidc(): void {
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(PENDING_KEY);
}

const servers = new Map<string, Promise<oauth.AuthorizationServer>>();

/** The provider's metadata from its discovery document, read once per page. */
function authorizationServer(issuer: string): Promise<oauth.AuthorizationServer> {
  let server = servers.get(issuer);
  if (!server) {
    const identifier = new URL(issuer);
    server = oauth
      .discoveryRequest(identifier, { algorithm: 'oidc', ...requestOptions(issuer) })
      .then((response) => oauth.processDiscoveryResponse(identifier, response))
      .catch((error: unknown) => {
        servers.delete(issuer);
        throw new OidcSignInError(`the sign-in provider ${issuer} cannot be reached`, { cause: error });
      });
    servers.set(issuer, server);
  }
  return server;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** oauth4webapi insists on https; a provider on a loopback address (development, tests) may use plain http, as the server allows. */
function requestOptions(issuer: string): { [oauth.allowInsecureRequests]?: boolean } {
  const url = new URL(issuer);
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname) ? { [oauth.allowInsecureRequests]: true } : {};
}

function takePendingSignIn(): PendingSignIn | undefined {
  const text = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY); // one use: a second completion with the same state must fail
  if (!text) return undefined;
  try {
    return JSON.parse(text) as PendingSignIn;
  } catch {
    return undefined;
  }
}

function sessionOf(result: oauth.TokenEndpointResponse, previous?: OidcSession): OidcSession {
  const claims = oauth.getValidatedIdTokenClaims(result);
  if (!result.id_token || !claims) throw new OidcSignInError('the provider returned no ID token');
  const issuedAt = typeof claims.iat === 'number' ? claims.iat * 1000 : Date.now();
  const expiresAt = claims.exp * 1000;
  const refreshToken = result.refresh_token ?? previous?.refreshToken;
  return {
    idToken: result.id_token,
    expiresAt,
    renewAt: issuedAt + (expiresAt - issuedAt) * 0.75,
    ...(refreshToken ? { refreshToken } : {}),
    subject: claims.sub,
    ...(typeof claims.name === 'string' ? { name: claims.name } : {}),
    ...(typeof claims.picture === 'string' ? { picture: claims.picture } : {}),
  };
}

function keepSession(session: OidcSession): OidcSession {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

function withoutResponseParameters(url: URL): string {
  const clean = new URL(url.href);
  for (const name of RESPONSE_PARAMETERS) clean.searchParams.delete(name);
  return clean.pathname + clean.search + clean.hash;
}

function asSignInError(error: unknown): OidcSignInError {
  if (error instanceof OidcSignInError) return error;
  if (error instanceof oauth.AuthorizationResponseError) {
    return new OidcSignInError(`the provider refused the sign-in: ${error.error_description ?? error.error}`, { cause: error });
  }
  if (error instanceof oauth.ResponseBodyError) {
    return new OidcSignInError(`the provider refused the token request: ${error.error_description ?? error.error}`, { cause: error });
  }
  if (error instanceof oauth.OperationProcessingError) {
    // A response that fails a check (state, issuer, nonce, ID token claims): a replayed or forged redirect, or a misconfigured provider.
    return new OidcSignInError(`the sign-in response was refused (${error.message}): sign in again`, { cause: error });
  }
  return new OidcSignInError('the sign-in failed: try again', { cause: error });
}
