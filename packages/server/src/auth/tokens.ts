import { webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { identifierSchema, roleSchema, type Role } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import { mapOidcClaims, type OidcClaimMapping } from './oidc-claims.js';
import { discoveredJwks } from './oidc-discovery.js';

/**
 * Where verification keys come from. The application's own tokens: HS256 with the shared secret, RS256/ES256
 * with the JWKS, checked against `issuer` and `audience`. An OpenID Connect issuer's ID tokens (the agent
 * console's sign-in): RS256/ES256 with the keys its discovery document names, checked against its issuer
 * and client id, their tenant and roles mapped from its claims.
 */
export interface TokenVerifierOptions {
  secret?: Uint8Array;
  jwks?: { file: string } | { url: string };
  issuer?: string;
  audience?: string;
  oidc?: OidcIssuerOptions;
  clockToleranceSeconds: number;
}

/** An OpenID Connect issuer whose ID tokens are accepted: its identifier, the client id they are issued to, and the claim mapping. */
export interface OidcIssuerOptions extends OidcClaimMapping {
  issuer: string;
  clientId: string;
}

const SYMMETRIC_ALGORITHMS = ['HS256'];
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256'];

const profileClaimsSchema = z.object({
  exp: z.number(),
  /** Display name and avatar (OIDC standard claims), shown to others ("Agent Dana joined"); ignored when malformed. */
  name: z.string().min(1).max(200).optional().catch(undefined),
  picture: z.string().url().max(2000).optional().catch(undefined),
});

const claimsSchema = profileClaimsSchema.extend({
  sub: identifierSchema,
  tenant: identifierSchema,
  roles: z.array(roleSchema).min(1).default(['user']),
});

/**
 * Verifies bearer JWTs and turns them into principals. Algorithms are pinned per key kind, so keys cannot be
 * confused. Precedence: a token whose (unverified) `iss` is the OIDC issuer is verified with that issuer's keys
 * only, never with the secret or the application's JWKS; every other token is one of the application's own.
 */
export class TokenVerifier {
  private constructor(
    private readonly options: TokenVerifierOptions,
    private readonly jwks: JWTVerifyGetKey | undefined,
    /** The secret imported once: given raw bytes, jose imports a key on every verification (about 27 µs each, measured in a reconnect storm). */
    private readonly secretKey: webcrypto.CryptoKey | undefined,
    private readonly oidcKeys: JWTVerifyGetKey | undefined,
  ) {}

  static async create(options: TokenVerifierOptions): Promise<TokenVerifier> {
    if (!options.secret && !options.jwks && !options.oidc) throw new Error('token verification needs a secret, a JWKS or an OIDC issuer');
    if (options.oidc && options.oidc.issuer === options.issuer) throw new Error('the OIDC issuer cannot also be the issuer of the application\'s own tokens');
    let jwks: JWTVerifyGetKey | undefined;
    if (options.jwks && 'file' in options.jwks) {
      jwks = createLocalJWKSet(JSON.parse(await readFile(options.jwks.file, 'utf8')));
    } else if (options.jwks) {
      jwks = createRemoteJWKSet(new URL(options.jwks.url));
    }
    const secretKey = options.secret ? await webcrypto.subtle.importKey('raw', options.secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']) : undefined;
    return new TokenVerifier(options, jwks, secretKey, options.oidc ? discoveredJwks(options.oidc.issuer) : undefined);
  }

  async verify(token: string): Promise<Principal> {
    if (this.options.oidc && this.oidcKeys && issuerOf(token) === this.options.oidc.issuer) return this.verifyOidc(token, this.options.oidc, this.oidcKeys);
    return this.verifyOwn(token);
  }

  /** One of the application's own tokens: `tenant` and `roles` are claims of their own. */
  private async verifyOwn(token: string): Promise<Principal> {
    if (!this.secretKey && !this.jwks) {
      throw new ParleyError('unauthorized', `only ID tokens of the OIDC issuer ${this.options.oidc?.issuer} are accepted`, { details: { reason: 'issuer' } });
    }
    const algorithm = this.algorithmOf(token);
    const common = {
      clockTolerance: this.options.clockToleranceSeconds,
      requiredClaims: ['exp', 'sub'],
      ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
      ...(this.options.audience ? { audience: this.options.audience } : {}),
    };
    try {
      const { payload } = SYMMETRIC_ALGORITHMS.includes(algorithm)
        ? await jwtVerify(token, this.secretKey!, { ...common, algorithms: SYMMETRIC_ALGORITHMS })
        : await jwtVerify(token, this.jwks!, { ...common, algorithms: ASYMMETRIC_ALGORITHMS });
      return toPrincipal(payload);
    } catch (error) {
      throw asUnauthorized(error);
    }
  }

  /** An ID token of the OIDC issuer, issued to its client id; tenant and roles mapped from its claims. */
  private async verifyOidc(token: string, oidc: OidcIssuerOptions, keys: JWTVerifyGetKey): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: oidc.issuer,
        audience: oidc.clientId,
        algorithms: ASYMMETRIC_ALGORITHMS,
        clockTolerance: this.options.clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
      });
      return oidcPrincipal(payload, oidc);
    } catch (error) {
      throw asUnauthorized(error);
    }
  }

  private algorithmOf(token: string): string {
    let algorithm: unknown;
    try {
      algorithm = decodeProtectedHeader(token).alg;
    } catch {
      throw new ParleyError('unauthorized', 'token is not a JWT');
    }
    if (typeof algorithm === 'string' && SYMMETRIC_ALGORITHMS.includes(algorithm) && this.options.secret) return algorithm;
    if (typeof algorithm === 'string' && ASYMMETRIC_ALGORITHMS.includes(algorithm) && this.jwks) return algorithm;
    throw new ParleyError('unauthorized', `token algorithm ${String(algorithm)} is not accepted`);
  }
}

/** The `iss` claim of a token not verified yet: it only picks the keys to verify with. */
function issuerOf(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined; // not a JWT: verifyOwn says so
  }
}

function toPrincipal(payload: unknown): Principal {
  const claims = claimsSchema.safeParse(payload);
  if (!claims.success) {
    throw new ParleyError('unauthorized', `token claims are invalid: ${claims.error.issues.map((issue) => issue.path.join('.')).join(', ')}`);
  }
  return principalOf({ tenant: claims.data.tenant, userId: claims.data.sub, roles: claims.data.roles }, claims.data);
}

/** The principal of an OIDC issuer's verified ID token: tenant and roles mapped, display claims as in the application's tokens. */
function oidcPrincipal(payload: JWTPayload, oidc: OidcIssuerOptions): Principal {
  const identity = mapOidcClaims(payload, oidc);
  const profile = profileClaimsSchema.safeParse(payload);
  if (!profile.success) throw new ParleyError('unauthorized', 'token claims are invalid: exp');
  return principalOf(identity, profile.data);
}

function principalOf(identity: { tenant: string; userId: string; roles: Role[] }, profile: z.output<typeof profileClaimsSchema>): Principal {
  const { name, picture } = profile;
  return {
    kind: 'user',
    tenant: shared(sharedTenants, identity.tenant, identity.tenant),
    userId: identity.userId,
    roles: shared(sharedRoles, identity.roles.join(','), identity.roles),
    expiresAt: profile.exp * 1000,
    ...(name !== undefined ? { name } : {}),
    ...(picture !== undefined ? { picture } : {}),
  };
}

// Tenants and role lists that many principals share are kept once: a connection holds its principal as long
// as it lives. Bounded, so that tokens with ever new values cannot grow them.
const SHARED_MAX = 10_000;
const sharedTenants = new Map<string, string>();
const sharedRoles = new Map<string, Role[]>();

function shared<T>(values: Map<string, T>, name: string, value: T): T {
  const known = values.get(name);
  if (known !== undefined) return known;
  if (values.size < SHARED_MAX) values.set(name, value);
  return value;
}

function asUnauthorized(error: unknown): ParleyError {
  if (error instanceof ParleyError) return error;
  if (error instanceof errors.JWTExpired) return new ParleyError('unauthorized', 'token expired', { details: { reason: 'expired' } });
  if (error instanceof errors.JOSEError) return new ParleyError('unauthorized', `token rejected: ${error.message}`, { details: { reason: error.code } });
  return new ParleyError('unauthorized', 'token rejected', { cause: error });
}

/** Signs an HS256 development token. Production tokens come from the application's own identity provider. */
export function signDevelopmentToken(
  secret: Uint8Array,
  claims: { tenant: string; userId: string; roles: Role[]; ttlSeconds: number; issuer?: string; audience?: string; name?: string },
): Promise<string> {
  let jwt = new SignJWT({ tenant: claims.tenant, roles: claims.roles, ...(claims.name ? { name: claims.name } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + claims.ttlSeconds);
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(secret);
}
