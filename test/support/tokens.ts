import { SignJWT } from 'jose';
import { TEST_SECRET } from './server.js';

/** Signs an HS256 token with the test servers' secret; `claims` override the defaults. */
export function token(user: string, options: { tenant?: string; roles?: string[]; ttlSeconds?: number; claims?: Record<string, unknown> } = {}): Promise<string> {
  return new SignJWT({ tenant: options.tenant ?? 'acme', roles: options.roles ?? ['user'], ...options.claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 3600))
    .sign(new TextEncoder().encode(TEST_SECRET));
}
