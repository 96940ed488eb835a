import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';

/** Tokens from an identity provider that publishes its keys at a JWKS URL (ES256 here). */
describe('JWKS URL', () => {
  let jwksServer: Server;
  let parley: TestServer;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let requests = 0;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwksServer = createServer((_request, response) => {
      requests++;
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
    parley = await startServer({ PARLEY_JWT_SECRET: '', PARLEY_JWKS_URL: url, PARLEY_JWT_ISSUER: 'https://idp.example', PARLEY_JWT_AUDIENCE: 'parley' });
  });
  afterAll(async () => {
    await parley.stop();
    jwksServer.close();
  });

  const sign = (claims: { iss?: string; aud?: string; kid?: string }) =>
    new SignJWT({ tenant: 'acme', roles: ['user'] })
      .setProtectedHeader({ alg: 'ES256', kid: claims.kid ?? 'k1' })
      .setSubject('alice')
      .setIssuer(claims.iss ?? 'https://idp.example')
      .setAudience(claims.aud ?? 'parley')
      .setExpirationTime('1h')
      .sign(privateKey);

  it('accepts a token signed with a key from the JWKS URL', async () => {
    const client = await RawClient.open(parley.wsUrl);
    const reply = await client.request('connect', { token: await sign({}) });
    expect(reply.result?.principal).toEqual({ tenant: 'acme', userId: 'alice', roles: ['user'] });
    expect(requests).toBeGreaterThan(0);
    client.close();
  });

  it('refuses a wrong issuer, a wrong audience, an unknown key id and HS256 when no secret is set', async () => {
    const hs256 = await new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime('1h').sign(new TextEncoder().encode('x'.repeat(40)));
    for (const jwt of [await sign({ iss: 'https://evil.example' }), await sign({ aud: 'other' }), await sign({ kid: 'nope' }), hs256]) {
      const client = await RawClient.open(parley.wsUrl);
      const reply = await client.request('connect', { token: jwt });
      expect(reply.error?.code).toBe('unauthorized');
      expect((await client.closed()).code).toBe(4500);
    }
  });
});
