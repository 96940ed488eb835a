import { createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pair } from '../support/pair.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, TEST_SECRET, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

/**
 * Authentication and authorization at the gateway: every refusal gets its documented error and close
 * code, and the server keeps serving the clients that did nothing wrong.
 *
 * Two servers:
 * - `hs`: the default configuration with the shared HS256 secret TEST_SECRET.
 * - `strict`: no shared secret, a JWKS file with an RSA and an EC public key, a required audience and
 *   issuer, an Origin allowlist, a 500 ms connect timeout and at most 2 connections per user.
 */

type SigningKey = Parameters<SignJWT['sign']>[0];

const AUDIENCE = 'parley-test';
const ISSUER = 'https://idp.example';
const ALLOWED_ORIGIN = 'https://app.example';

let hs: TestServer | undefined;
let strict: TestServer | undefined;
let jwksDir: string | undefined;
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let rsa: KeyPair;
let ec: KeyPair;
let rsaPublicPem: string;
let rsaPublicJwk: Record<string, unknown>;
/** Clients that behave; they must keep chatting whatever the other tests do. */
let hsPair: Pair;
let strictPair: Pair;

const now = () => Math.floor(Date.now() / 1000);

/** Signs `payload` as given (no defaults added by a builder), dropping keys whose value is undefined. */
function sign(payload: Record<string, unknown>, alg: string, key: SigningKey, kid?: string): Promise<string> {
  const claims = Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== undefined));
  return new SignJWT(claims).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(key);
}

/** Default claims of a valid token; `overrides` replace them (undefined removes one). */
function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: 'alice', tenant: 'acme', roles: ['user'], iat: now(), exp: now() + 3600, ...overrides };
}

const secretKey = (secret: string) => new TextEncoder().encode(secret);
const hsToken = (overrides: Record<string, unknown> = {}) => sign(claims(overrides), 'HS256', secretKey(TEST_SECRET));
/** A token the strict server accepts (RS256 with the listed key, right aud and iss) unless overridden. */
const strictClaims = (overrides: Record<string, unknown> = {}) => claims({ aud: AUDIENCE, iss: ISSUER, ...overrides });
const rsToken = (overrides: Record<string, unknown> = {}) => sign(strictClaims(overrides), 'RS256', rsa.privateKey, 'rsa-1');
const esToken = (overrides: Record<string, unknown> = {}) => sign(strictClaims(overrides), 'ES256', ec.privateKey, 'ec-1');

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Opens a socket, sends `connect` with `jwt`, and returns the reply and the socket. */
async function attempt(wsUrl: string, jwt: string): Promise<{ client: RawClient; reply: Record<string, any> }> {
  const client = await RawClient.open(wsUrl);
  const reply = await client.request('connect', { token: jwt });
  return { client, reply };
}

/** `connect` with `jwt` is refused with `code`, then the server closes the socket with `closeCode` after a disconnect notice. */
async function expectRefused(wsUrl: string, jwt: string, code = 'unauthorized', closeCode = 4500): Promise<Record<string, any>> {
  const { client, reply } = await attempt(wsUrl, jwt);
  expect(reply.result, `connect unexpectedly succeeded as ${JSON.stringify(reply.result?.principal)}`).toBeUndefined();
  expect(reply.error?.code).toBe(code);
  const closed = await client.closed(5000);
  expect(closed.code).toBe(closeCode);
  expect(client.frames).toContainEqual(expect.objectContaining({ push: 'disconnect', code: closeCode, reconnect: closeCode < 4500 }));
  return reply.error;
}

async function expectAccepted(wsUrl: string, jwt: string): Promise<RawClient> {
  const { client, reply } = await attempt(wsUrl, jwt);
  expect(reply.error, `connect refused: ${JSON.stringify(reply.error)}`).toBeUndefined();
  expect(reply.result.principal).toBeDefined();
  return client;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256');
  rsaPublicPem = await exportSPKI(rsa.publicKey);
  rsaPublicJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  const ecPublicJwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
  jwksDir = await mkdtemp(join(tmpdir(), 'parley-jwks-'));
  const jwksFile = join(jwksDir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify({ keys: [rsaPublicJwk, ecPublicJwk] }));

  const servers = await Promise.allSettled([
    startServer(),
    startServer({
      PARLEY_JWT_SECRET: '', // unset: only the JWKS verifies tokens
      PARLEY_JWKS_FILE: jwksFile,
      PARLEY_JWT_AUDIENCE: AUDIENCE,
      PARLEY_JWT_ISSUER: ISSUER,
      PARLEY_ALLOWED_ORIGINS: ALLOWED_ORIGIN,
      PARLEY_CONNECT_TIMEOUT_MS: '500',
      PARLEY_MAX_CONNECTIONS_PER_USER: '2',
    }),
  ]);
  if (servers[0].status === 'fulfilled') hs = servers[0].value;
  if (servers[1].status === 'fulfilled') strict = servers[1].value;
  for (const server of servers) if (server.status === 'rejected') throw server.reason;

  hsPair = await Pair.open(hs!.wsUrl, await hsToken({ sub: 'sentinel-a' }), await hsToken({ sub: 'sentinel-b' }), 'sentinel-b', 'sentinel-room');
  strictPair = await Pair.open(strict!.wsUrl, await rsToken({ sub: 'sentinel-a' }), await esToken({ sub: 'sentinel-b' }), 'sentinel-b', 'sentinel-room');
});

afterAll(async () => {
  await Promise.all([hs?.stop(), strict?.stop()]);
  if (jwksDir) await rm(jwksDir, { recursive: true, force: true });
});

describe('tokens (HS256 server)', () => {
  it('accepts a valid token; the principal matches its claims', async () => {
    const exp = now() + 600;
    const { client, reply } = await attempt(hs!.wsUrl, await hsToken({ sub: 'alice', tenant: 'acme', roles: ['user', 'agent'], exp }));
    expect(reply.error).toBeUndefined();
    expect(reply.result.principal).toEqual({ tenant: 'acme', userId: 'alice', roles: ['user', 'agent'] });
    expect(reply.result.expiresAt).toBe(exp * 1000);
    expect(reply.result.protocol).toBe('v1');
    expect(await client.call('ping')).toHaveProperty('ts');

    // The test helper's token (roles default to ['user']).
    const other = await RawClient.open(hs!.wsUrl);
    const second = await other.request('connect', { token: await token('bob', { tenant: 'beta' }) });
    expect(second.result?.principal).toEqual({ tenant: 'beta', userId: 'bob', roles: ['user'] });
    client.close();
    other.close();
    await hsPair.exchange();
  });

  it('refuses a token signed with another secret: unauthorized, then close 4500', async () => {
    await expectRefused(hs!.wsUrl, await sign(claims(), 'HS256', secretKey('another-secret-that-is-also-long-enough-0123')));
    // A valid token whose signature was tampered with.
    const valid = await hsToken();
    const [header, payload] = valid.split('.');
    const forgedPayload = b64url({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'admin', roles: ['admin'] });
    await expectRefused(hs!.wsUrl, `${header}.${forgedPayload}.${valid.split('.')[2]}`);
    await hsPair.exchange();
  });

  it('refuses unsigned tokens (alg none, stripped signature)', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      await expectRefused(hs!.wsUrl, `${b64url({ alg, typ: 'JWT' })}.${b64url(claims())}.`);
    }
    // alg none carrying a signature that is valid for HS256.
    const valid = await hsToken();
    await expectRefused(hs!.wsUrl, `${b64url({ alg: 'none' })}.${valid.split('.')[1]}.${valid.split('.')[2]}`);
    // HS256 header, signature removed.
    await expectRefused(hs!.wsUrl, `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims())}.`);
    // Not a JWT at all.
    await expectRefused(hs!.wsUrl, 'not-a-jwt');
    await hsPair.exchange();
  });

  it('refuses an RS256 token on a server without a JWKS', async () => {
    await expectRefused(hs!.wsUrl, await sign(claims(), 'RS256', rsa.privateKey, 'rsa-1'));
    await hsPair.exchange();
  });

  it('refuses an expired token with unauthorized and close 4003', async () => {
    const error = await expectRefused(hs!.wsUrl, await token('alice', { ttlSeconds: -60 }), 'unauthorized', 4003);
    expect(error.message).toMatch(/expired/);
    await hsPair.exchange();
  });

  it('refuses a token whose nbf is beyond the clock tolerance; accepts one within it', async () => {
    await expectRefused(hs!.wsUrl, await hsToken({ nbf: now() + 60 }));
    const within = await expectAccepted(hs!.wsUrl, await hsToken({ sub: 'nbf-ok', nbf: now() + 2 }));
    within.close();
    await hsPair.exchange();
  });

  it('refuses tokens with missing or invalid claims', async () => {
    const cases: Record<string, Record<string, unknown>> = {
      'missing tenant': { tenant: undefined },
      'empty tenant': { tenant: '' },
      'tenant with a separator': { tenant: 'acme/evil' },
      'tenant not a string': { tenant: 42 },
      'unknown role': { roles: ['superuser'] },
      'one unknown role among valid ones': { roles: ['user', 'root'] },
      'empty roles': { roles: [] },
      'roles not an array': { roles: 'admin' },
      'missing sub': { sub: undefined },
      'sub with a separator': { sub: 'alice/../bob' },
      'missing exp': { exp: undefined },
      'exp not a number': { exp: String(now() + 3600) },
    };
    for (const [name, overrides] of Object.entries(cases)) {
      const { client, reply } = await attempt(hs!.wsUrl, await hsToken(overrides));
      expect(reply.error?.code, `${name}: ${JSON.stringify(reply)}`).toBe('unauthorized');
      expect((await client.closed(5000)).code, name).toBe(4500);
    }
    await hsPair.exchange();
  });
});

describe('keys and claims (JWKS server: no shared secret, required aud and iss)', () => {
  it('accepts RS256 and ES256 tokens signed with the JWKS keys', async () => {
    for (const [name, jwt] of [['RS256', await rsToken({ sub: 'rs-user' })], ['ES256', await esToken({ sub: 'es-user' })]] as const) {
      const { client, reply } = await attempt(strict!.wsUrl, jwt);
      expect(reply.error, `${name}: ${JSON.stringify(reply.error)}`).toBeUndefined();
      expect(reply.result.principal.userId).toBe(name === 'RS256' ? 'rs-user' : 'es-user');
      expect(await client.call('ping')).toHaveProperty('ts');
      client.close();
    }
    await strictPair.exchange();
  });

  it('refuses HS256 tokens whose HMAC key is the RSA public key (key confusion), and HS256 altogether', async () => {
    const payload = strictClaims({ sub: 'confused' });
    await expectRefused(strict!.wsUrl, await sign(payload, 'HS256', secretKey(rsaPublicPem), 'rsa-1'));
    await expectRefused(strict!.wsUrl, await sign(payload, 'HS256', secretKey(rsaPublicPem)));
    await expectRefused(strict!.wsUrl, await sign(payload, 'HS256', secretKey(JSON.stringify(rsaPublicJwk)), 'rsa-1'));
    // PARLEY_JWT_SECRET is unset (''), so not even the test secret is accepted.
    await expectRefused(strict!.wsUrl, await sign(payload, 'HS256', secretKey(TEST_SECRET)));
    await strictPair.exchange();
  });

  it('refuses tokens signed with keys not in the JWKS, other algorithms, and alg none', async () => {
    const stranger = await generateKeyPair('RS256');
    await expectRefused(strict!.wsUrl, await sign(strictClaims(), 'RS256', stranger.privateKey, 'rsa-1'));
    const strangerEc = await generateKeyPair('ES256');
    await expectRefused(strict!.wsUrl, await sign(strictClaims(), 'ES256', strangerEc.privateKey, 'ec-1'));
    // The listed RSA key, but RS512 instead of the pinned RS256.
    const rsaForAnyAlgorithm = createPrivateKey(await exportPKCS8(rsa.privateKey));
    await expectRefused(strict!.wsUrl, await sign(strictClaims(), 'RS512', rsaForAnyAlgorithm, 'rsa-1'));
    await expectRefused(strict!.wsUrl, `${b64url({ alg: 'none', kid: 'rsa-1' })}.${b64url(strictClaims())}.`);
    await strictPair.exchange();
  });

  it('checks aud and iss when they are configured', async () => {
    await expectRefused(strict!.wsUrl, await rsToken({ aud: 'someone-else' }));
    await expectRefused(strict!.wsUrl, await rsToken({ aud: undefined }));
    await expectRefused(strict!.wsUrl, await rsToken({ iss: 'https://evil.example' }));
    await expectRefused(strict!.wsUrl, await rsToken({ iss: undefined }));
    const right = await expectAccepted(strict!.wsUrl, await rsToken({ sub: 'aud-ok', aud: AUDIENCE, iss: ISSUER }));
    right.close();
    const listed = await expectAccepted(strict!.wsUrl, await esToken({ sub: 'aud-list', aud: ['other', AUDIENCE] }));
    listed.close();
    await strictPair.exchange();
  });
});

describe('tenants and conversation access (HS256 server)', () => {
  const X = 'project-x';

  it("isolates tenants: another tenant's conversation id is a different, nonexistent conversation", async () => {
    const alice = await RawClient.connect(hs!.wsUrl, await token('alice', { tenant: 'acme' }));
    const opened = await alice.call('conversation.open', { conversationId: X, members: ['bob'] });
    expect(opened.created).toBe(true);
    await alice.call('subscribe', { conversationId: X });
    await alice.call('message.send', { conversationId: X, clientMsgId: 'secret-1', content: { type: 'text', text: 'acme secret' } });

    for (const roles of [['user'], ['admin'], ['agent']]) {
      const mallory = await RawClient.connect(hs!.wsUrl, await token('mallory', { tenant: 'evil', roles }));
      const attempts: Array<[string, Record<string, unknown>]> = [
        ['conversation.get', { conversationId: X }],
        ['subscribe', { conversationId: X }],
        ['message.send', { conversationId: X, clientMsgId: 'm1', content: { type: 'text', text: 'hi from evil' } }],
        ['history', { conversationId: X }],
        ['typing', { conversationId: X, active: true }],
        ['read', { conversationId: X, seq: 1 }],
        ['presence', { conversationId: X }],
      ];
      for (const [op, args] of attempts) {
        const reply = await mallory.request(op, args);
        expect(reply.error?.code, `${roles.join(',')} ${op}: ${JSON.stringify(reply)}`).toBe('not_found');
      }
      mallory.close();
    }

    // The same id in tenant evil is mallory's own, new conversation.
    const mallory = await RawClient.connect(hs!.wsUrl, await token('mallory', { tenant: 'evil' }));
    const hers = await mallory.call('conversation.open', { conversationId: X, members: ['eve'] });
    expect(hers.created).toBe(true);
    expect(hers.conversation).toMatchObject({ id: X, tenant: 'evil', createdBy: 'mallory', lastSeq: 1 });
    expect([...hers.conversation.members].sort()).toEqual(['eve', 'mallory']);
    await mallory.call('subscribe', { conversationId: X });
    await mallory.call('message.send', { conversationId: X, clientMsgId: 'evil-1', content: { type: 'text', text: 'evil message' } });
    const evilHistory = await mallory.call('history', { conversationId: X });
    expect(evilHistory.events.map((event: any) => event.tenant)).toEqual(['evil', 'evil']);
    expect(JSON.stringify(evilHistory)).not.toContain('acme secret');

    // Alice's conversation is untouched; a new message reaches her subscription, not mallory's.
    const mine = await alice.call('conversation.get', { conversationId: X });
    expect(mine.conversation).toMatchObject({ tenant: 'acme', createdBy: 'alice', lastSeq: 2 });
    expect([...mine.conversation.members].sort()).toEqual(['alice', 'bob']);
    const acmeHistory = await alice.call('history', { conversationId: X });
    expect(acmeHistory.events.map((event: any) => event.seq)).toEqual([1, 2]);
    expect(JSON.stringify(acmeHistory)).not.toContain('evil message');
    await alice.call('message.send', { conversationId: X, clientMsgId: 'secret-2', content: { type: 'text', text: 'acme secret 2' } });
    await alice.waitFor((frame) => frame.push === 'event' && frame.event.causation?.clientMsgId === 'secret-2', 5000);
    await mallory.waitFor((frame) => frame.push === 'event' && frame.event.causation?.clientMsgId === 'evil-1', 5000);
    expect(alice.events().every((event) => event.tenant === 'acme')).toBe(true);
    expect(mallory.events().every((event) => event.tenant === 'evil')).toBe(true);
    expect(JSON.stringify(mallory.frames)).not.toContain('acme secret');
    alice.close();
    mallory.close();
    await hsPair.exchange();
  });

  it('forbids non-members of the same tenant; agents may read and send', async () => {
    const Y = 'project-y';
    const alice = await RawClient.connect(hs!.wsUrl, await token('alice', { tenant: 'acme' }));
    await alice.call('conversation.open', { conversationId: Y, members: ['bob'] });
    await alice.call('subscribe', { conversationId: Y });

    const carol = await RawClient.connect(hs!.wsUrl, await token('carol', { tenant: 'acme' }));
    const attempts: Array<[string, Record<string, unknown>]> = [
      ['conversation.get', { conversationId: Y }],
      ['message.send', { conversationId: Y, clientMsgId: 'c1', content: { type: 'text', text: 'let me in' } }],
      ['history', { conversationId: Y }],
      ['subscribe', { conversationId: Y }],
      ['typing', { conversationId: Y, active: true }],
      ['read', { conversationId: Y, seq: 1 }],
      ['presence', { conversationId: Y }],
      // Opening an existing conversation does not make carol a member.
      ['conversation.open', { conversationId: Y, members: ['carol'] }],
    ];
    for (const [op, args] of attempts) {
      const reply = await carol.request(op, args);
      expect(reply.error?.code, `${op}: ${JSON.stringify(reply)}`).toBe('forbidden');
    }
    expect(carol.closeCode).toBeNull();
    const afterCarol = await alice.call('conversation.get', { conversationId: Y });
    expect(afterCarol.conversation.lastSeq).toBe(1);
    expect([...afterCarol.conversation.members].sort()).toEqual(['alice', 'bob']);

    // Agents reach support conversations only; people-only ones stay members-only. Admins reach every conversation.
    const outsider = await RawClient.connect(hs!.wsUrl, await token('support-bot', { tenant: 'acme', roles: ['agent'] }));
    expect((await outsider.request('conversation.get', { conversationId: Y })).error.code).toBe('forbidden');
    outsider.close();
    const agent = await RawClient.connect(hs!.wsUrl, await token('support-admin', { tenant: 'acme', roles: ['admin'] }));
    expect((await agent.call('conversation.get', { conversationId: Y })).conversation.id).toBe(Y);
    expect((await agent.call('history', { conversationId: Y })).events.map((event: any) => event.seq)).toEqual([1]);
    const ack = await agent.call('message.send', { conversationId: Y, clientMsgId: 'bot-1', content: { type: 'text', text: 'how can I help?' } });
    expect(ack.seq).toBe(2);
    const delivered = await alice.waitFor((frame) => frame.push === 'event' && frame.event.causation?.clientMsgId === 'bot-1', 5000);
    expect(delivered.event.actor).toEqual({ kind: 'agent', id: 'support-admin' });
    expect(alice.events(Y).some((event) => event.actor.id === 'carol')).toBe(false);
    alice.close();
    carol.close();
    agent.close();
    await hsPair.exchange();
  });
});

describe('origins', () => {
  it('refuses a foreign Origin with HTTP 403 and accepts a same-host one (no allowlist)', async () => {
    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${hs!.port + 1}`, `http://evil.example:${hs!.port}`]) {
      await expect(RawClient.open(hs!.wsUrl, { headers: { Origin: origin } }), origin).rejects.toThrow('HTTP 403');
    }
    const same = await RawClient.open(hs!.wsUrl, { headers: { Origin: `http://127.0.0.1:${hs!.port}` } });
    expect((await same.call('connect', { token: await token('origin-user') })).principal.userId).toBe('origin-user');
    same.close();
    await hsPair.exchange();
  });

  it('with PARLEY_ALLOWED_ORIGINS accepts only that exact origin', async () => {
    for (const origin of ['https://evil.example', `http://127.0.0.1:${strict!.port}`, 'http://app.example', 'https://app.example.evil.example', 'https://evil.example/https://app.example']) {
      await expect(RawClient.open(strict!.wsUrl, { headers: { Origin: origin } }), origin).rejects.toThrow('HTTP 403');
    }
    const allowed = await RawClient.open(strict!.wsUrl, { headers: { Origin: ALLOWED_ORIGIN } });
    expect((await allowed.call('connect', { token: await rsToken({ sub: 'origin-user' }) })).principal.userId).toBe('origin-user');
    allowed.close();
    await strictPair.exchange();
  });
});

describe('connection lifetime', () => {
  it('closes a socket that never sends connect with 4004 (PARLEY_CONNECT_TIMEOUT_MS=500)', async () => {
    const silent = await RawClient.open(strict!.wsUrl);
    // Requests other than connect do not count as authentication.
    const chatty = await RawClient.open(strict!.wsUrl);
    expect((await chatty.request('ping')).error?.code).toBe('unauthorized');
    const authenticated = await RawClient.connect(strict!.wsUrl, await rsToken({ sub: 'punctual' }));

    expect((await silent.closed(5000)).code).toBe(4004);
    expect(silent.frames).toContainEqual(expect.objectContaining({ push: 'disconnect', code: 4004 }));
    expect((await chatty.closed(5000)).code).toBe(4004);
    // The timeout has passed for the authenticated socket too; it stays open.
    expect(await authenticated.call('ping')).toHaveProperty('ts');
    expect(authenticated.closeCode).toBeNull();
    authenticated.close();
    await strictPair.exchange();
  });

  it('closes with 4003 when the token expires; token.refresh extends it, but only for the same user', async () => {
    const exp = now() + 2;
    const short = (user: string) => hsToken({ sub: user, exp });
    const expiring = await RawClient.connect(hs!.wsUrl, await short('exp-plain'));
    const refreshed = await RawClient.connect(hs!.wsUrl, await short('exp-refreshed'));
    const hijacker = await RawClient.connect(hs!.wsUrl, await short('exp-hijack'));

    const renewal = await refreshed.call('token.refresh', { token: await hsToken({ sub: 'exp-refreshed', exp: now() + 3600 }) });
    expect(renewal.expiresAt).toBeGreaterThan(exp * 1000);

    for (const other of [
      await hsToken({ sub: 'someone-else', exp: now() + 3600 }),
      await hsToken({ sub: 'exp-hijack', tenant: 'other-tenant', exp: now() + 3600 }),
    ]) {
      const reply = await hijacker.request('token.refresh', { token: other });
      expect(reply.error?.code, JSON.stringify(reply)).toBe('forbidden');
    }
    const invalid = await hijacker.request('token.refresh', { token: await sign(claims({ sub: 'exp-hijack' }), 'HS256', secretKey('wrong-secret-wrong-secret-wrong-secret-0000')) });
    expect(invalid.error?.code).toBe('unauthorized');
    expect(await hijacker.call('ping')).toHaveProperty('ts'); // a failed refresh does not end the session

    expect((await expiring.closed(8000)).code).toBe(4003);
    expect(expiring.frames).toContainEqual(expect.objectContaining({ push: 'disconnect', code: 4003, reconnect: true }));
    // The refused refreshes did not extend the hijacker's session.
    expect((await hijacker.closed(8000)).code).toBe(4003);
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
    await sleep(500);
    expect(refreshed.closeCode).toBeNull();
    expect(await refreshed.call('ping')).toHaveProperty('ts');
    refreshed.close();
    await hsPair.exchange();
  });

  it('limits connections per user: the third gets busy and close 4005 (PARLEY_MAX_CONNECTIONS_PER_USER=2)', async () => {
    const jwt = await rsToken({ sub: 'limited' });
    const first = await RawClient.connect(strict!.wsUrl, jwt);
    const second = await RawClient.connect(strict!.wsUrl, jwt);
    const { client: third, reply } = await attempt(strict!.wsUrl, jwt);
    expect(reply.error?.code).toBe('busy');
    expect(reply.error?.retryAfterMs).toBeGreaterThan(0);
    expect((await third.closed(5000)).code).toBe(4005);
    expect(third.frames).toContainEqual(expect.objectContaining({ push: 'disconnect', code: 4005, reconnect: true }));
    expect(await first.call('ping')).toHaveProperty('ts');
    expect(await second.call('ping')).toHaveProperty('ts');
    // Another user is not affected.
    const other = await expectAccepted(strict!.wsUrl, await esToken({ sub: 'not-limited' }));
    other.close();

    // A closed connection frees its slot.
    first.close();
    await first.closed(5000);
    let replacement: RawClient | null = null;
    for (let tries = 0; tries < 20 && !replacement; tries++) {
      const { client, reply: retry } = await attempt(strict!.wsUrl, jwt);
      if (retry.result) replacement = client;
      else await sleep(100);
    }
    expect(replacement, 'no slot was freed after closing a connection').not.toBeNull();
    replacement?.close();
    second.close();
    await strictPair.exchange();
  });
});
