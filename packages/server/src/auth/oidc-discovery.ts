import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { ParleyError } from '../core/errors.js';

const DISCOVERY_TIMEOUT_MS = 5000;

const discoverySchema = z.object({ issuer: z.string(), jwks_uri: z.url() });

/**
 * The signing keys of an OpenID Connect issuer, found through its discovery document
 * (`<issuer>/.well-known/openid-configuration`) on first use rather than at start, so that a provider that is
 * down does not stop the server. A failed discovery is tried again on the next token; the keys themselves are
 * jose's remote JWKS (cached, refetched for an unknown key id, so key rotation needs no restart).
 */
export function discoveredJwks(issuer: string): JWTVerifyGetKey {
  let keys: Promise<JWTVerifyGetKey> | undefined;
  return async (header, token) => {
    keys ??= discoverJwks(issuer).catch((error: unknown) => {
      keys = undefined;
      throw error;
    });
    return (await keys)(header, token);
  };
}

async function discoverJwks(issuer: string): Promise<JWTVerifyGetKey> {
  // OpenID Connect Discovery 1.0, section 4: the path is appended to the issuer without its trailing slash.
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let body: unknown;
  try {
    const response = await fetch(url, { headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = await response.json();
  } catch (error) {
    throw new ParleyError('unavailable', `the OIDC issuer's discovery document ${url} could not be read`, { cause: error });
  }
  const document = discoverySchema.safeParse(body);
  if (!document.success) throw new ParleyError('unavailable', `the OIDC discovery document ${url} has no jwks_uri`);
  // Section 4.3: the document must name the very issuer it was fetched for, else its keys are not that issuer's.
  if (document.data.issuer !== issuer) {
    throw new ParleyError('unavailable', `the OIDC discovery document ${url} names issuer ${document.data.issuer}, not ${issuer}`);
  }
  return createRemoteJWKSet(new URL(document.data.jwks_uri));
}
