import { SignJWT } from 'jose';

/** The HS256 secret every bench server is started with. */
export const BENCH_SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789';
const key = new TextEncoder().encode(BENCH_SECRET);

/** A Parley access token for `user` in tenant `bench`, valid for an hour. */
export function token(user, roles = ['user']) {
  return new SignJWT({ tenant: 'bench', roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(key);
}
