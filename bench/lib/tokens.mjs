import { SignJWT } from 'jose';

/** The HS256 secret every bench server is started with. */
export const BENCH_SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789';
const key = new TextEncoder().encode(BENCH_SECRET);

// A client keeps its token and presents it again when it reconnects, as an app does.
const issued = new Map();

/** A Parley access token for `user` in tenant `bench`, valid for an hour; the same one for the same user and roles. */
export function token(user, roles = ['user']) {
  const name = `${user}\u0000${roles.join(',')}`;
  let jwt = issued.get(name);
  if (!jwt) {
    jwt = new SignJWT({ tenant: 'bench', roles })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user)
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
      .sign(key);
    issued.set(name, jwt);
  }
  return jwt;
}
