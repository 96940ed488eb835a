import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../packages/server/src/auth/tokens.js';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';

const WEB_DIR = join(fileURLToPath(new URL('../../', import.meta.url)), 'packages/web/dist');
const CLIENT_ID = 'parley-console';
/** The provider's people: Dana is an agent, Uma a customer (role user), Sam has no role at all. */
const ACCOUNTS: Record<string, { name: string; roles: string[] }> = {
  dana: { name: 'Dana', roles: ['agent'] },
  uma: { name: 'Uma', roles: ['user'] },
  sam: { name: 'Sam', roles: [] },
};

// Typed structurally: the tests' tsconfig has no DOM lib.
declare const sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };

/**
 * Agents sign in to the console at /agent (the built web UI) at a real OpenID Connect provider (panva's
 * oidc-provider, with its development login and consent pages) in headless Chromium: authorization code with
 * PKCE, then the console connects to Parley's WebSocket with the ID token as an agent.
 */
describe('agent sign-in with OIDC', () => {
  let providerServer: Server;
  let issuer: string;
  let parley: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIR, 'agent.html'))) throw new Error(`${WEB_DIR} has no agent.html: run \`npm run build\` first`);
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PARLEY_CHROMIUM`);
    // The provider listens first (Parley needs its issuer), and is made once Parley's address (the redirect URI) is known.
    let handle: (request: IncomingMessage, response: ServerResponse) => void = (_request, response) => response.writeHead(503).end();
    providerServer = createServer((request, response) => handle(request, response));
    await new Promise<void>((resolve) => providerServer.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(providerServer.address() as AddressInfo).port}`;
    parley = await startServer({
      PARLEY_WEB_DIR: WEB_DIR,
      PARLEY_OIDC_ISSUER: issuer,
      PARLEY_OIDC_CLIENT_ID: CLIENT_ID,
      PARLEY_OIDC_TENANT: 'acme',
      PARLEY_OIDC_SCOPES: 'openid profile roles',
    });
    handle = (await localProvider(issuer, `${parley.url}/agent`)).callback();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await parley?.stop();
    providerServer?.closeAllConnections();
    await new Promise((resolve) => providerServer?.close(resolve));
  });

  /**
   * Opens the console, signs in at the provider as `login` (login page, then consent) and returns on the
   * page again, checking on the way that the authorization request uses PKCE and that only a code comes back in the URL.
   */
  async function signIn(login: string): Promise<Page> {
    const context = await browser.newContext();
    // The provider's development pages import a web font; this machine has no way out.
    await context.route((url) => url.origin !== issuer && url.origin !== parley.url, (route) => route.abort());
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${parley.url}/agent`);
    const authorization = page.waitForRequest((request) => request.url().startsWith(`${issuer}/auth?`));
    await page.getByRole('button', { name: `Sign in with ${new URL(issuer).host}` }).click();
    const sent = new URL((await authorization).url()).searchParams;
    expect(Object.fromEntries(sent)).toMatchObject({ response_type: 'code', client_id: CLIENT_ID, redirect_uri: `${parley.url}/agent`, code_challenge_method: 'S256' });
    expect(sent.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sent.get('state')).toBeTruthy();
    expect(sent.get('nonce')).toBeTruthy();
    await page.locator('input[name=login]').fill(login);
    await page.locator('input[name=password]').fill('any');
    const callback = page.waitForRequest((request) => request.url().startsWith(`${parley.url}/agent?`));
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    const returned = new URL((await callback).url()).searchParams;
    expect([...returned.keys()].sort()).toEqual(['code', 'iss', 'state']);
    expect(returned.get('state')).toBe(sent.get('state'));
    return page;
  }

  it('signs Dana in at the provider and the console connects to Parley as an agent named Dana, with a token that renews', async () => {
    const page = await signIn('dana');
    // The console is signed in as Dana, an agent, and connected: going online is an agent's operation.
    await expect.poll(() => page.getByTestId('agent-user').textContent().catch(() => null)).toBe('Dana (agent)');
    await expect.poll(() => page.getByTestId('status-online').getAttribute('aria-checked')).toBe('true');
    // The code and state were taken out of the address bar; no token ever was in it.
    expect(page.url()).toBe(`${parley.url}/agent`);

    // The bearer the console kept is the provider's ID token; the server's verifier names it Dana, and so does
    // the route the console asks after the sign-in.
    const session = JSON.parse((await page.evaluate(() => sessionStorage.getItem('parley.oidc.session'))) ?? 'null') as { idToken: string; refreshToken?: string };
    const verifier = await TokenVerifier.create({ oidc: { issuer, clientId: CLIENT_ID, userClaim: 'sub', rolesClaim: 'roles', tenant: { fixed: 'acme' } }, clockToleranceSeconds: 5 });
    expect(await verifier.verify(session.idToken)).toMatchObject({ tenant: 'acme', userId: 'dana', roles: ['agent'], name: 'Dana' });
    const mapped = await fetch(`${parley.url}/v1/web/auth/principal`, { headers: { Authorization: `Bearer ${session.idToken}` } });
    expect(await mapped.json()).toEqual({ tenant: 'acme', userId: 'dana', roles: ['agent'], name: 'Dana', picture: 'https://idp.example/dana.png' });
    expect(session.refreshToken).toBeTruthy();
    const connected = await RawClient.open(parley.wsUrl);
    expect((await connected.request('connect', { token: session.idToken })).result?.principal).toEqual({ tenant: 'acme', userId: 'dana', roles: ['agent'] });
    connected.close();

    // Due for renewal: the reloaded console takes up the tab's session without going back to the provider's
    // sign-in, and renews the ID token with the refresh token (which the provider rotates) before it connects.
    await page.evaluate(() => {
      const kept = JSON.parse(sessionStorage.getItem('parley.oidc.session') ?? 'null') as { renewAt: number };
      sessionStorage.setItem('parley.oidc.session', JSON.stringify({ ...kept, renewAt: 0 }));
    });
    const authorizations: string[] = [];
    page.on('request', (request) => {
      if (request.url().startsWith(`${issuer}/auth`)) authorizations.push(request.url());
    });
    const refresh = page.waitForRequest((request) => request.url() === `${issuer}/token` && (request.postData() ?? '').includes('grant_type=refresh_token'));
    await page.reload();
    await refresh;
    await expect.poll(() => page.getByTestId('agent-user').textContent().catch(() => null)).toBe('Dana (agent)');
    await expect.poll(() => page.getByTestId('status-online').getAttribute('aria-checked')).toBe('true');
    expect(authorizations).toEqual([]);
    const renewed = JSON.parse((await page.evaluate(() => sessionStorage.getItem('parley.oidc.session'))) ?? 'null') as { idToken: string; refreshToken?: string; renewAt: number };
    expect(renewed.renewAt).toBeGreaterThan(0);
    expect(renewed.refreshToken).toBeTruthy();
    expect(renewed.refreshToken).not.toBe(session.refreshToken);
    const client = await RawClient.open(parley.wsUrl);
    const reply = await client.request('connect', { token: renewed.idToken });
    expect(reply.result?.principal).toEqual({ tenant: 'acme', userId: 'dana', roles: ['agent'] });
    client.close();

    // Signing out forgets the tab's session: the issuer's button again.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: `Sign in with ${new URL(issuer).host}` }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('parley.oidc.session'))).toBe(null);
    await page.context().close();
  });

  it('refuses a person whose ID token carries no role, and forgets the sign-in', async () => {
    const page = await signIn('sam');
    await expect.poll(() => page.getByTestId('sign-in-failure').textContent().catch(() => null)).toBe("the server refused the sign-in: the token's roles claim grants no Parley role");
    expect(await page.getByTestId('agent-user').count()).toBe(0);
    // Back at the sign-in, where someone else may sign in; nothing kept to retry with.
    expect(await page.getByRole('button', { name: `Sign in with ${new URL(issuer).host}` }).isVisible()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('parley.oidc.session'))).toBe(null);
    await page.context().close();
  });

  it('refuses a person the server makes neither agent nor admin', async () => {
    const page = await signIn('uma');
    await expect.poll(() => page.getByTestId('sign-in-failure').textContent().catch(() => null)).toBe('This account is neither an agent nor an admin: the console is for the support team.');
    expect(await page.getByTestId('agent-user').count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.getItem('parley.oidc.session'))).toBe(null);
    await page.context().close();
  });

  it('refuses a redirect back that this tab did not start, or whose state is not the one it sent', async () => {
    const context = await browser.newContext();
    await context.route((url) => url.origin !== issuer && url.origin !== parley.url, (route) => route.abort());
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${parley.url}/agent?code=stolen&state=forged`);
    await expect.poll(() => page.getByTestId('sign-in-failure').textContent().catch(() => null)).toBe('no sign-in was started in this tab: sign in again');
    expect(page.url()).toBe(`${parley.url}/agent`);
    // The issuer's button is the way in; the development form is not offered.
    expect(await page.getByLabel('User id').count()).toBe(0);

    await page.getByRole('button', { name: `Sign in with ${new URL(issuer).host}` }).click();
    await page.waitForURL((url) => url.origin === issuer);
    await page.goto(`${parley.url}/agent?code=stolen&state=forged&iss=${encodeURIComponent(issuer)}`);
    await expect.poll(() => page.getByTestId('sign-in-failure').textContent().catch(() => null)).toContain('unexpected "state" response parameter value');
    expect(await page.evaluate(() => sessionStorage.getItem('parley.oidc.session'))).toBe(null);
    await context.close();
  });

  it('tells the pages to sign in at the issuer, and issues no development tokens', async () => {
    const auth = await fetch(`${parley.url}/v1/web/auth`);
    expect(auth.headers.get('cache-control')).toBe('no-store');
    expect(await auth.json()).toEqual({ mode: 'oidc', issuer, clientId: CLIENT_ID, scopes: 'openid profile roles' });
    expect((await fetch(`${parley.url}/v1/dev/token?user=mallory&role=admin`)).status).toBe(404);
    const anonymous = await fetch(`${parley.url}/v1/web/auth/principal`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });
});

/** panva's oidc-provider with one public client (the console) and the two accounts, signing with a fresh RS256 key. */
async function localProvider(issuer: string, redirectUri: string): Promise<Provider> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, token_endpoint_auth_method: 'none', application_type: 'web', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: ['oidc-sign-in-test'] },
    scopes: ['openid', 'profile', 'roles'],
    claims: { openid: ['sub'], profile: ['name', 'picture'], roles: ['roles'] },
    // Put the scopes' claims in the ID token itself, as Keycloak, Auth0 and Entra ID do by default.
    conformIdTokenClaims: false,
    // Refresh tokens for every sign-in of the console, as Keycloak issues them (oidc-provider's default wants
    // offline_access, which it grants only with prompt=consent).
    issueRefreshToken: (_context, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: (_context, id) => {
      const account = ACCOUNTS[id];
      if (!account) return undefined;
      return { accountId: id, claims: () => ({ sub: id, name: account.name, picture: `https://idp.example/${id}.png`, ...(account.roles.length > 0 ? { roles: account.roles } : {}) }) };
    },
  });
}
