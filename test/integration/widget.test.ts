import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall } from '../support/api.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const SITE = 'https://shop.example';
const OTHER_SITE = 'https://evil.example';

/** POST /v1/widget/token with the given headers (a browser on `origin` sends `Origin: origin`). */
async function mint(server: TestServer, body: unknown, headers: Record<string, string> = { origin: SITE }) {
  const response = await fetch(`${server.url}/v1/widget/token`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const raw = await response.text();
  return { status: response.status, headers: response.headers, body: raw ? JSON.parse(raw) : null };
}

describe('widget keys, widget secret and the widget-token route', () => {
  let server: TestServer;
  let webDir: string;
  let admin: string;

  beforeAll(async () => {
    // A stand-in for the web build: the frame route serves this file.
    webDir = await mkdtemp(join(tmpdir(), 'parley-widget-web-'));
    await writeFile(join(webDir, 'widget-frame.html'), '<!doctype html><title>frame</title>');
    server = await startServer({ PARLEY_WEB_DIR: webDir, PARLEY_WIDGET_TOKEN_TTL_S: '600', PARLEY_WIDGET_TOKENS_PER_ADDRESS_PER_MINUTE: '1000' });
    admin = await token('root', { tenant: 'acme', roles: ['admin'] });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(webDir, { recursive: true, force: true });
  });

  async function createKey(allowedOrigins = [SITE], credential = admin): Promise<string> {
    const created = await apiCall(server, credential, 'POST', '/widget-keys', { name: 'site', allowedOrigins });
    expect(created.status).toBe(201);
    return created.body.widgetKey.key as string;
  }

  it('admins and keys with the widgets scopes manage widget keys; users and other scopes may not', async () => {
    const created = await apiCall(server, admin, 'POST', '/widget-keys', { name: 'shop', allowedOrigins: [SITE, SITE, 'http://localhost:3000'] });
    expect(created.status).toBe(201);
    const view = created.body.widgetKey;
    expect(view).toMatchObject({ name: 'shop', allowedOrigins: [SITE, 'http://localhost:3000'], createdBy: 'root', revokedAt: null });
    expect(view.key).toMatch(/^pwk_[A-Za-z0-9]{24}$/);

    const listed = await apiCall(server, admin, 'GET', '/widget-keys');
    expect(listed.body.widgetKeys.map((key: { key: string }) => key.key)).toContain(view.key);
    const patched = await apiCall(server, admin, 'PATCH', `/widget-keys/${view.key}`, { allowedOrigins: [SITE] });
    expect(patched.body.widgetKey.allowedOrigins).toEqual([SITE]);

    const user = await token('someone', { tenant: 'acme' });
    expect((await apiCall(server, user, 'GET', '/widget-keys')).body.error.code).toBe('forbidden');
    expect((await apiCall(server, user, 'POST', '/widget-keys', { name: 'x', allowedOrigins: [SITE] })).status).toBe(403);

    const reader = await apiCall(server, admin, 'POST', '/keys', { name: 'reader', scopes: ['widgets:read'] });
    expect((await apiCall(server, reader.body.key, 'GET', `/widget-keys/${view.key}`)).status).toBe(200);
    const refused = await apiCall(server, reader.body.key, 'DELETE', `/widget-keys/${view.key}`);
    expect(refused.status).toBe(403);
    expect(refused.body.error.details).toEqual({ scope: 'widgets:write' });
    const writer = await apiCall(server, admin, 'POST', '/keys', { name: 'writer', scopes: ['widgets:write'] });
    expect((await apiCall(server, writer.body.key, 'DELETE', `/widget-keys/${view.key}`)).status).toBe(204);
    const revoked = await apiCall(server, admin, 'GET', `/widget-keys/${view.key}`);
    expect(revoked.body.widgetKey.revokedAt).toEqual(expect.any(Number));
    expect((await apiCall(server, admin, 'PATCH', `/widget-keys/${view.key}`, { name: 'again' })).body.error.code).toBe('conflict');

    // Another tenant's admin does not see it.
    const stranger = await token('root', { tenant: 'globex', roles: ['admin'] });
    expect((await apiCall(server, stranger, 'GET', `/widget-keys/${view.key}`)).status).toBe(404);
    expect((await apiCall(server, stranger, 'DELETE', `/widget-keys/${view.key}`)).status).toBe(404);
  });

  it('validates widget key input: origins exactly, names, the key format', async () => {
    for (const allowedOrigins of [[], ['https://shop.example/'], ['https://shop.example/path'], ['ftp://shop.example'], ['HTTPS://SHOP.EXAMPLE'], ['shop.example'], ['https://shop.example; frame-ancestors *']]) {
      const answer = await apiCall(server, admin, 'POST', '/widget-keys', { name: 'x', allowedOrigins });
      expect(answer.status, JSON.stringify(allowedOrigins)).toBe(400);
      expect(answer.body.error.code).toBe('bad_request');
    }
    expect((await apiCall(server, admin, 'POST', '/widget-keys', { name: '', allowedOrigins: [SITE] })).status).toBe(400);
    expect((await apiCall(server, admin, 'POST', '/widget-keys', { name: 'x', allowedOrigins: Array.from({ length: 21 }, (_, index) => `https://s${index}.example`) })).status).toBe(400);
    expect((await apiCall(server, admin, 'GET', '/widget-keys/not-a-key')).body.error.code).toBe('bad_request');
    expect((await apiCall(server, admin, 'GET', '/widget-keys/pwk_000000000000000000000000')).body.error.code).toBe('not_found');
    expect((await apiCall(server, admin, 'PATCH', '/widget-keys/pwk_000000000000000000000000', {})).body.error.code).toBe('bad_request');
  });

  it('mints guest tokens for an allowed origin only, and keeps a guest who presents their id', async () => {
    const widgetKey = await createKey();
    const first = await mint(server, { widgetKey });
    expect(first.status).toBe(201);
    expect(first.headers.get('access-control-allow-origin')).toBe(SITE);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.body).toMatchObject({ guest: true, userId: expect.stringMatching(/^guest-[0-9a-f]{32}$/) });
    const claims = decodeJwt(first.body.token);
    expect(claims).toMatchObject({ sub: first.body.userId, tenant: 'acme', roles: ['user'] });
    expect(claims.exp! - claims.iat!).toBe(600);
    // The token works: the guest opens a conversation with the server API.
    const opened = await apiCall(server, first.body.token, 'POST', '/conversations', { assistant: 'assistant' });
    expect(opened.status).toBe(201);

    const again = await mint(server, { widgetKey, guestId: first.body.userId });
    expect(again.body.userId).toBe(first.body.userId);

    const wrongOrigin = await mint(server, { widgetKey }, { origin: OTHER_SITE });
    expect(wrongOrigin.status).toBe(403);
    expect(wrongOrigin.body.error).toMatchObject({ code: 'forbidden', details: { origin: OTHER_SITE } });
    // A page of another origin cannot claim to be embedded by the site: its Origin header is what counts.
    expect((await mint(server, { widgetKey, embedOrigin: SITE }, { origin: OTHER_SITE })).status).toBe(403);
    // No Origin at all (a backend, curl): refused; backends mint with an API key.
    expect((await mint(server, { widgetKey }, {})).body.error.code).toBe('forbidden');
    // The widget's own frame (same origin as Parley) names the page that embeds it; it must be allowed too.
    const frame = { origin: server.url, 'sec-fetch-site': 'same-origin' };
    expect((await mint(server, { widgetKey, embedOrigin: SITE }, frame)).status).toBe(201);
    expect((await mint(server, { widgetKey, embedOrigin: OTHER_SITE }, frame)).status).toBe(403);
    expect((await mint(server, { widgetKey }, frame)).body.error.code).toBe('bad_request');

    // A revoked key mints nothing, and its frame may be embedded nowhere.
    await apiCall(server, admin, 'DELETE', `/widget-keys/${widgetKey}`);
    expect((await mint(server, { widgetKey })).body.error.code).toBe('not_found');
    const framePage = await fetch(`${server.url}/widget/frame?key=${widgetKey}`);
    expect(framePage.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
  });

  it('verifies claimed user ids with the HMAC of the widget secret', async () => {
    const widgetKey = await createKey();
    // No secret yet: a claimed id is refused (anyone could claim any id).
    const hashless = await mint(server, { widgetKey, userId: 'alice', userHash: 'a'.repeat(64) });
    expect(hashless.status).toBe(403);
    expect(hashless.body.error.message).toContain('no widget secret');

    expect((await apiCall(server, admin, 'GET', '/widget-secret')).body).toEqual({ configured: false, createdAt: null });
    const { secret } = (await apiCall(server, admin, 'POST', '/widget-secret')).body;
    expect(secret).toMatch(/^pws_/);
    expect((await apiCall(server, admin, 'GET', '/widget-secret')).body).toMatchObject({ configured: true });
    const config = await (await fetch(`${server.url}/v1/widget/config?key=${widgetKey}`)).json();
    expect(config).toEqual({ tenant: 'acme', allowedOrigins: [SITE], identityVerification: true });

    const userHash = createHmac('sha256', secret).update('alice').digest('hex');
    const verified = await mint(server, { widgetKey, userId: 'alice', userHash });
    expect(verified.status).toBe(201);
    expect(verified.body).toMatchObject({ userId: 'alice', guest: false });
    expect(decodeJwt(verified.body.token).sub).toBe('alice');

    const forged = await mint(server, { widgetKey, userId: 'bob', userHash });
    expect(forged.body.error.code).toBe('forbidden');
    // Malformed identities are bad requests, before any check.
    for (const body of [{ widgetKey, userId: 'alice' }, { widgetKey, userHash }, { widgetKey, userId: 'alice', userHash: userHash.toUpperCase() }, { widgetKey, userId: 'guest-1', userHash }, { widgetKey, guestId: 'guest-xyz' }, { widgetKey, userId: 'alice', userHash, guestId: `guest-${'0'.repeat(32)}` }]) {
      expect((await mint(server, body)).body.error.code, JSON.stringify(body)).toBe('bad_request');
    }

    // A rotated secret invalidates the old hashes; without a secret, ids are refused again.
    const rotated = (await apiCall(server, admin, 'POST', '/widget-secret')).body.secret;
    expect(rotated).not.toBe(secret);
    expect((await mint(server, { widgetKey, userId: 'alice', userHash })).status).toBe(403);
    expect((await apiCall(server, admin, 'DELETE', '/widget-secret')).status).toBe(204);
    expect((await apiCall(server, admin, 'DELETE', '/widget-secret')).status).toBe(404);
  });

  it('answers bad input with a code, never a crash', async () => {
    for (const body of ['not json', '[]', '{}', JSON.stringify({ widgetKey: 'pwk_short' }), JSON.stringify({ widgetKey: `pwk_${'a'.repeat(24)}`, embedOrigin: 'nope' })]) {
      const answer = await mint(server, body);
      expect(answer.status, body).toBe(400);
      expect(answer.body.error.code).toBe('bad_request');
    }
    expect((await mint(server, JSON.stringify({ widgetKey: `pwk_${'a'.repeat(24)}`, pad: 'x'.repeat(5000) }))).body.error.code).toBe('too_large');
    expect((await mint(server, { widgetKey: `pwk_${'a'.repeat(24)}` })).body.error.code).toBe('not_found');
    const config = (await (await fetch(`${server.url}/v1/widget/config?key=nope`)).json()) as { error: { code: string } };
    expect(config.error.code).toBe('bad_request');
    const preflight = await fetch(`${server.url}/v1/widget/token`, { method: 'OPTIONS', headers: { origin: SITE, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(SITE);
  });

  it("serves the frame's page with frame-ancestors set to the key's origins", async () => {
    const widgetKey = await createKey([SITE, 'http://localhost:8000']);
    const page = await fetch(`${server.url}/widget/frame?key=${widgetKey}&origin=${encodeURIComponent(SITE)}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(`frame-ancestors ${SITE} http://localhost:8000`);
    expect(await page.text()).toContain('<title>frame</title>');
    const unknown = await fetch(`${server.url}/widget/frame?key=garbage`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
  });
});

describe('widget-token rate limits', () => {
  let server: TestServer;

  afterAll(async () => {
    await server?.stop();
  });

  it('limits per key and per client address, with rate_limited and Retry-After', async () => {
    server = await startServer({ PARLEY_WIDGET_TOKENS_PER_KEY_PER_MINUTE: '3', PARLEY_WIDGET_TOKENS_PER_ADDRESS_PER_MINUTE: '6' });
    const admin = await token('root', { tenant: 'acme', roles: ['admin'] });
    const keyOf = async () => (await apiCall(server, admin, 'POST', '/widget-keys', { name: 'site', allowedOrigins: [SITE] })).body.widgetKey.key as string;
    const [first, second] = [await keyOf(), await keyOf()];
    for (let index = 0; index < 3; index++) expect((await mint(server, { widgetKey: first })).status).toBe(201);
    const perKey = await mint(server, { widgetKey: first });
    expect(perKey.status).toBe(429);
    expect(perKey.body.error).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('widget key') });
    expect(Number(perKey.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another key has its own budget; the address's (6 a minute, 4 spent) runs out after two more.
    expect((await mint(server, { widgetKey: second })).status).toBe(201);
    expect((await mint(server, { widgetKey: second })).status).toBe(201);
    const perAddress = await mint(server, { widgetKey: second });
    expect(perAddress.status).toBe(429);
    expect(perAddress.body.error.message).toContain('address');
    expect(Number(perAddress.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
