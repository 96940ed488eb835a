import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../packages/server/src/auth/tokens.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';

const PAGE_DIR = fileURLToPath(new URL('./oidc-page/', import.meta.url));
const CHROMIUM = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';
const CLIENT_ID = 'parley-console';
/** The provider's people: Dana is an agent, Sam has no role at all. */
const ACCOUNTS: Record<string, { name: string; roles: string[] }> = {
  dana: { name: 'Dana', roles: ['agent'] },
  sam: { name: 'Sam', roles: [] },
};

// Typed structurally: the tests' tsconfig has no DOM lib.
declare const sessionStorage: { getItem(key: string): string | null };

/**
 * Agents sign in at a real OpenID Connect provider (panva's oidc-provider, with its development login and
 * consent pages) in headless Chromium: authorization code with PKCE from a page that mounts OidcSignIn, then the
 * ID token connects to Parley's WebSocket as an agent.
 */
describe('agent sign-in with OIDC', () => {
  let providerServer: Server;
  let issuer: string;
  let parley: TestServer;
  let browser: Browser;
  let pageDir: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set PARLEY_CHROMIUM`);
    // The provider listens first (Parley needs its issuer), and is made once Parley's address (the redirect URI) is known.
    let handle: (request: IncomingMessage, response: ServerResponse) => void = (_request, response) => response.writeHead(503).end();
    providerServer = createServer((request, response) => handle(request, response));
    await new Promise<void>((resolve) => providerServer.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(providerServer.address() as AddressInfo).port}`;
    pageDir = await mkdtemp(join(tmpdir(), 'parley-oidc-page-'));
    await build({ root: PAGE_DIR, configFile: false, logLevel: 'warn', esbuild: { jsx: 'automatic' }, build: { outDir: pageDir, emptyOutDir: true, target: 'es2022' } });
    parley = await startServer({
      PARLEY_WEB_DIR: pageDir,
      PARLEY_OIDC_ISSUER: issuer,
      PARLEY_OIDC_CLIENT_ID: CLIENT_ID,
      PARLEY_OIDC_TENANT: 'acme',
      PARLEY_OIDC_SCOPES: 'openid profile roles',
    });
    handle = (await localProvider(issuer, `${parley.url}/agent`)).callback();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await parley?.stop();
    providerServer?.closeAllConnections();
    await new Promise((resolve) => providerServer?.close(resolve));
    if (pageDir) await rm(pageDir, { recursive: true, force: true });
  });

  /**
   * Opens the console page, signs in at the provider as `login` (login page, then consent) and returns on the
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

  it('signs Dana in at the provider and connects to Parley as an agent named Dana, with a token that renews', async () => {
    const page = await signIn('dana');
    await expect.poll(() => page.getByTestId('principal').textContent().catch(() => null)).toBe(JSON.stringify({ tenant: 'acme', userId: 'dana', roles: ['agent'] }));
    expect(await page.getByTestId('agent-name').textContent()).toBe('Dana');
    // What the server makes of the token, as the console asks it after the sign-in.
    expect(JSON.parse((await page.getByTestId('mapped').textContent()) ?? '')).toEqual({ tenant: 'acme', userId: 'dana', roles: ['agent'], name: 'Dana', picture: 'https://idp.example/dana.png' });
    // The code and state were taken out of the address bar; no token ever was in it.
    expect(page.url()).toBe(`${parley.url}/agent`);

    // The bearer the page kept is the provider's ID token; the server's verifier names it Dana.
    const session = JSON.parse((await page.evaluate(() => sessionStorage.getItem('parley.oidc.session'))) ?? 'null') as { idToken: string; refreshToken?: string };
    const verifier = await TokenVerifier.create({ oidc: { issuer, clientId: CLIENT_ID, userClaim: 'sub', rolesClaim: 'roles', tenant: { fixed: 'acme' } }, clockToleranceSeconds: 5 });
    expect(await verifier.verify(session.idToken)).toMatchObject({ tenant: 'acme', userId: 'dana', roles: ['agent'], name: 'Dana' });
    expect(session.refreshToken).toBeTruthy();

    // Renewed with the refresh token (which the provider rotates): the ID token it returns is accepted by Parley as well.
    const refresh = page.waitForRequest((request) => request.url() === `${issuer}/token` && (request.postData() ?? '').includes('grant_type=refresh_token'));
    await page.getByRole('button', { name: 'Renew' }).click();
    await refresh;
    await expect.poll(() => page.getByTestId('renewals').textContent()).toBe('1');
    const renewed = JSON.parse((await page.evaluate(() => sessionStorage.getItem('parley.oidc.session'))) ?? 'null') as { idToken: string; refreshToken?: string };
    expect(renewed.refreshToken).toBeTruthy();
    expect(renewed.refreshToken).not.toBe(session.refreshToken);
    const client = await RawClient.open(parley.wsUrl);
    const reply = await client.request('connect', { token: renewed.idToken });
    expect(reply.result?.principal).toEqual({ tenant: 'acme', userId: 'dana', roles: ['agent'] });
    client.close();
    await page.context().close();
  });

  it('refuses a person whose ID token carries no role', async () => {
    const page = await signIn('sam');
    await expect.poll(() => page.getByTestId('failure').textContent().catch(() => null)).toContain('grants no Parley role');
    expect(await page.getByTestId('principal').count()).toBe(0);
    await page.context().close();
  });

  it('refuses a redirect back that this tab did not start, or whose state is not the one it sent', async () => {
    const context = await browser.newContext();
    await context.route((url) => url.origin !== issuer && url.origin !== parley.url, (route) => route.abort());
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${parley.url}/agent?code=stolen&state=forged`);
    await expect.poll(() => page.getByTestId('oidc-sign-in-error').textContent().catch(() => null)).toBe('no sign-in was started in this tab: sign in again');
    expect(page.url()).toBe(`${parley.url}/agent`);

    await page.getByRole('button', { name: `Sign in with ${new URL(issuer).host}` }).click();
    await page.waitForURL((url) => url.origin === issuer);
    await page.goto(`${parley.url}/agent?code=stolen&state=forged&iss=${encodeURIComponent(issuer)}`);
    await expect.poll(() => page.getByTestId('oidc-sign-in-error').textContent().catch(() => null)).toContain('unexpected "state" response parameter value');
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
