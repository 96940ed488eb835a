import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyError } from '../src/core/errors.js';
import { TokenVerifier, type OidcIssuerOptions, type TokenVerifierOptions } from '../src/auth/tokens.js';

const SECRET = new TextEncoder().encode('s'.repeat(40));

/** An OpenID Connect issuer on 127.0.0.1 that serves a discovery document and a JWKS of locally generated keys. */
class LocalIssuer {
  issuer = '';
  /** What the discovery document names as its issuer; the real one unless a test makes it lie. */
  advertisedIssuer: string | undefined;
  down = false;
  discoveries = 0;
  private server: Server | undefined;

  constructor(private readonly publicJwk: Record<string, unknown>) {}

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      if (this.down) return response.writeHead(503).end();
      if (request.url === '/.well-known/openid-configuration') {
        this.discoveries++;
        response.writeHead(200, { 'Content-Type': 'application/json' });
        return response.end(JSON.stringify({ issuer: this.advertisedIssuer ?? this.issuer, jwks_uri: `${this.issuer}/jwks` }));
      }
      if (request.url === '/jwks') {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        return response.end(JSON.stringify({ keys: [this.publicJwk] }));
      }
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('TokenVerifier with an OIDC issuer', () => {
  let issuer: LocalIssuer;
  let privateKey: CryptoKey;
  let strangerKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    strangerKey = (await generateKeyPair('RS256')).privateKey;
    issuer = new LocalIssuer({ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' });
    await issuer.start();
  });
  afterAll(() => issuer.stop());

  function oidc(overrides: Partial<OidcIssuerOptions> = {}): OidcIssuerOptions {
    return { issuer: issuer.issuer, clientId: 'parley-console', userClaim: 'sub', rolesClaim: 'roles', tenant: { fixed: 'acme' }, ...overrides };
  }

  function verifier(overrides: Partial<OidcIssuerOptions> = {}, options: Partial<TokenVerifierOptions> = { secret: SECRET }): Promise<TokenVerifier> {
    return TokenVerifier.create({ ...options, oidc: oidc(overrides), clockToleranceSeconds: 5 });
  }

  /** An ID token as a provider issues it: no tenant, the provider's own roles or groups. */
  function idToken(claims: JWTPayload = {}, options: { key?: CryptoKey; kid?: string; expiresAt?: number; audience?: string } = {}): Promise<string> {
    return new SignJWT({ roles: ['agent'], name: 'Dana', picture: 'https://idp.example/dana.png', nonce: 'n', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'k1' })
      .setIssuer(issuer.issuer)
      .setAudience(options.audience ?? 'parley-console')
      .setSubject('dana')
      .setIssuedAt()
      .setExpirationTime(options.expiresAt ?? Math.floor(Date.now() / 1000) + 300)
      .sign(options.key ?? privateKey);
  }

  async function refusal(verifying: Promise<unknown>): Promise<ParleyError> {
    const error = await verifying.then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(ParleyError);
    return error as ParleyError;
  }

  it("turns the issuer's ID token into an agent named by its name and picture claims", async () => {
    const principal = await (await verifier()).verify(await idToken());
    expect(principal).toMatchObject({ kind: 'user', tenant: 'acme', userId: 'dana', roles: ['agent'], name: 'Dana', picture: 'https://idp.example/dana.png' });
  });

  it('takes the tenant from a claim when so configured, and refuses a token without it', async () => {
    const byClaim = await verifier({ tenant: { claim: 'tid' } });
    expect((await byClaim.verify(await idToken({ tid: 'globex' }))).tenant).toBe('globex');
    const missing = await refusal(byClaim.verify(await idToken()));
    expect(missing.code).toBe('unauthorized');
    expect(missing.details).toEqual({ reason: 'claim_invalid', claim: 'tid' });
    expect((await refusal(byClaim.verify(await idToken({ tid: 'no spaces allowed' })))).code).toBe('unauthorized');
  });

  it("maps the provider's groups to Parley roles, from a nested claim or a space-separated string", async () => {
    const keycloak = await verifier({ rolesClaim: 'realm_access.roles', roleMap: [['support-agents', 'agent'], ['support-leads', 'admin'], ['support-leads', 'agent']] });
    expect((await keycloak.verify(await idToken({ roles: undefined, realm_access: { roles: ['offline_access', 'support-leads'] } }))).roles).toEqual(['admin', 'agent']);
    const spaced = await verifier({ rolesClaim: 'groups', roleMap: [['agents', 'agent']] });
    expect((await spaced.verify(await idToken({ groups: 'staff agents' }))).roles).toEqual(['agent']);
    // A namespaced claim (Auth0) has dots in its name: looked up as is before as a path.
    const auth0 = await verifier({ rolesClaim: 'https://parley.example/roles' });
    expect((await auth0.verify(await idToken({ 'https://parley.example/roles': ['admin'] }))).roles).toEqual(['admin']);
  });

  it('refuses a token whose roles claim grants no role, unless a default role is configured', async () => {
    const strict = await verifier();
    for (const claims of [{ roles: undefined }, { roles: ['owner'] }, { roles: 'agent-ish' }]) {
      const error = await refusal(strict.verify(await idToken(claims)));
      expect(error.code).toBe('unauthorized');
      expect(error.details).toEqual({ reason: 'no_role' });
    }
    const lenient = await verifier({ defaultRole: 'user' });
    expect((await lenient.verify(await idToken({ roles: undefined }))).roles).toEqual(['user']);
    // With a role map, only mapped values count: the raw value `admin` grants nothing.
    const mapped = await verifier({ roleMap: [['agents', 'agent']] });
    expect((await refusal(mapped.verify(await idToken({ roles: ['admin'] })))).details).toEqual({ reason: 'no_role' });
  });

  it('refuses an expired token, another audience, an unknown key and a key of another issuer', async () => {
    const oidcVerifier = await verifier();
    const expired = await refusal(oidcVerifier.verify(await idToken({}, { expiresAt: Math.floor(Date.now() / 1000) - 60 })));
    expect(expired.code).toBe('unauthorized');
    expect(expired.details).toEqual({ reason: 'expired' });
    expect((await refusal(oidcVerifier.verify(await idToken({}, { audience: 'another-app' })))).details).toEqual({ reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
    expect((await refusal(oidcVerifier.verify(await idToken({}, { kid: 'k9' })))).code).toBe('unauthorized');
    expect((await refusal(oidcVerifier.verify(await idToken({}, { key: strangerKey })))).details).toEqual({ reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  it("refuses a wrong issuer's token: it is not verified with the issuer's keys, and the application's keys do not take it", async () => {
    const wrongIssuer = await new SignJWT({ roles: ['agent'], tenant: 'acme' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer('https://evil.example')
      .setAudience('parley-console')
      .setSubject('dana')
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await refusal((await verifier()).verify(wrongIssuer))).code).toBe('unauthorized');
    const oidcOnly = await refusal((await verifier({}, {})).verify(wrongIssuer));
    expect(oidcOnly.details).toEqual({ reason: 'issuer' });
  });

  it("never verifies a token naming the OIDC issuer with the application's secret", async () => {
    const forged = await new SignJWT({ tenant: 'acme', roles: ['admin'] }).setProtectedHeader({ alg: 'HS256' }).setIssuer(issuer.issuer).setAudience('parley-console').setSubject('mallory').setExpirationTime('5m').sign(SECRET);
    const error = await refusal((await verifier()).verify(forged));
    expect(error.code).toBe('unauthorized');
    expect(error.details).toEqual({ reason: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it("still accepts the application's own tokens beside the issuer's", async () => {
    const own = await new SignJWT({ tenant: 'acme', roles: ['user'], name: 'Carol' }).setProtectedHeader({ alg: 'HS256' }).setSubject('carol').setExpirationTime('5m').sign(SECRET);
    expect(await (await verifier()).verify(own)).toMatchObject({ tenant: 'acme', userId: 'carol', roles: ['user'], name: 'Carol' });
  });

  it("answers unavailable while the issuer's discovery document cannot be read or names another issuer, and recovers", async () => {
    const oidcVerifier = await verifier();
    const token = await idToken();
    issuer.down = true;
    expect((await refusal(oidcVerifier.verify(token))).code).toBe('unavailable');
    issuer.down = false;
    issuer.advertisedIssuer = 'https://elsewhere.example';
    const lying = await refusal(oidcVerifier.verify(token));
    expect(lying.code).toBe('unavailable');
    expect(lying.message).toContain('names issuer https://elsewhere.example');
    issuer.advertisedIssuer = undefined;
    const before = issuer.discoveries;
    expect((await oidcVerifier.verify(token)).userId).toBe('dana');
    await oidcVerifier.verify(token);
    expect(issuer.discoveries).toBe(before + 1);
  });
});
