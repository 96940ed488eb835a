import type { MiddlewareHandler } from 'hono';
import { ApiKeys } from '../auth/api-keys.js';
import type { TokenVerifier } from '../auth/tokens.js';
import { ParleyError } from '../core/errors.js';
import type { Principal } from '../core/types.js';

/** What an API route knows about its caller. */
export type ApiEnv = { Variables: { principal: Principal } };

/**
 * Authenticates `Authorization: Bearer <credential>`: a tenant API key (`psk_...`, a service principal) or
 * a user's JWT (the same tokens as the WebSocket). Every route then authorizes its own target.
 */
export function authenticate(keys: ApiKeys, verifier: TokenVerifier): MiddlewareHandler<ApiEnv> {
  return async (context, next) => {
    const header = context.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new ParleyError('unauthorized', 'send Authorization: Bearer <API key or token>');
    const credential = match[1]!;
    const principal = ApiKeys.looksLikeKey(credential) ? await keys.verify(credential) : await verifier.verify(credential);
    context.set('principal', principal);
    await next();
  };
}
