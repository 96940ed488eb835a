import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { WidgetConfig, WidgetTokenResult } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { UserRateLimits, WidgetKeyRecord, WidgetStore, WidgetTokenIssuer, WidgetTokenRequest } from '../core/ports.js';

/** Signs an end-user token; absent when the server holds no signing key (it verifies with a JWKS only). */
export type WidgetTokenSigner = (claims: { tenant: string; userId: string; roles: Array<'user'>; ttlSeconds: number }) => Promise<string>;

export interface WidgetTokensOptions {
  /** Guest tokens per key and per client address; both hold across nodes when the limiters use Redis. */
  perKey: UserRateLimits;
  perAddress: UserRateLimits;
  tokenTtlSeconds: number;
  sign: WidgetTokenSigner | undefined;
}

// The per-address buckets are not per tenant: one address probing many tenants' keys shares one budget.
const ANY_TENANT = '*';

/**
 * End-user tokens for the widget on a site without a backend: a guest (a new random id, or the one the
 * browser kept), or a user id the site vouches for with an HMAC under the tenant's widget secret. Only for
 * pages of the key's allowed origins, and rate-limited per key and per client address.
 */
export class WidgetTokens implements WidgetTokenIssuer {
  constructor(
    private readonly store: WidgetStore,
    private readonly options: WidgetTokensOptions,
  ) {}

  /** The active key, or `not_found` (an unknown and a revoked key look alike). */
  async activeKey(widgetKey: string): Promise<WidgetKeyRecord> {
    const record = await this.store.findKey(widgetKey);
    if (!record || record.revokedAt !== null) throw new ParleyError('not_found', 'no such widget key, or it was revoked');
    return record;
  }

  /** What the widget's frame needs to check the page that embeds it. */
  async config(widgetKey: string): Promise<WidgetConfig> {
    const record = await this.activeKey(widgetKey);
    return { tenant: record.tenant, allowedOrigins: record.allowedOrigins, identityVerification: (await this.store.getSecret(record.tenant)) !== null };
  }

  async frameAncestors(widgetKey: string): Promise<string[] | null> {
    const record = await this.store.findKey(widgetKey);
    return record && record.revokedAt === null ? record.allowedOrigins : null;
  }

  async mint(request: WidgetTokenRequest): Promise<WidgetTokenResult> {
    await this.take(this.options.perAddress, ANY_TENANT, request.address, 'from this address');
    const record = await this.activeKey(request.widgetKey);
    const origin = embeddingOrigin(request);
    if (!record.allowedOrigins.includes(origin)) throw new ParleyError('forbidden', `this widget key may not be used on ${origin}`, { details: { origin } });
    await this.take(this.options.perKey, record.tenant, record.key, 'for this widget key');
    const identity = request.userId !== undefined ? await this.verified(record.tenant, request.userId, request.userHash ?? '') : { userId: request.guestId ?? newGuestId(), guest: true };
    if (!this.options.sign) throw new ParleyError('unavailable', 'this server holds no signing key (it verifies tokens with a JWKS): the widget needs a token endpoint (data-token-endpoint)');
    const ttlSeconds = this.options.tokenTtlSeconds;
    const token = await this.options.sign({ tenant: record.tenant, userId: identity.userId, roles: ['user'], ttlSeconds });
    return { token, userId: identity.userId, guest: identity.guest, expiresAt: Date.now() + ttlSeconds * 1000 };
  }

  private async take(limits: UserRateLimits, tenant: string, id: string, what: string): Promise<void> {
    const waitMs = await limits.take(tenant, id);
    if (waitMs > 0) throw new ParleyError('rate_limited', `too many widget tokens ${what}; retry later`, { retryAfterMs: waitMs });
  }

  /** A claimed user id: only with the tenant's secret, and only with its HMAC under it. */
  private async verified(tenant: string, userId: string, userHash: string): Promise<{ userId: string; guest: false }> {
    const secret = await this.store.getSecret(tenant);
    if (!secret) throw new ParleyError('forbidden', 'this tenant verifies no user ids (it has no widget secret): the widget can only start guest conversations');
    if (!matches(identityHash(secret.secret, userId), userHash)) throw new ParleyError('forbidden', 'userHash is not the HMAC of userId under the widget secret');
    return { userId, guest: false };
  }
}

/** The hex HMAC-SHA256 of a user id under the widget secret: what a site's backend puts beside the id. */
export function identityHash(secret: string, userId: string): string {
  return createHmac('sha256', secret).update(userId).digest('hex');
}

/**
 * The origin of the page that embeds the widget. A browser sets `Origin` and page scripts cannot change
 * it; when the widget's frame (Parley's own origin) calls, it says which page embeds it, and that page was
 * checked by the frame and by the frame's `frame-ancestors` policy.
 */
function embeddingOrigin(request: WidgetTokenRequest): string {
  if (request.fromWidgetFrame) {
    if (!request.embedOrigin) throw new ParleyError('bad_request', 'embedOrigin is required when the widget frame asks for a token');
    return request.embedOrigin;
  }
  if (!request.origin) throw new ParleyError('forbidden', 'this route serves browsers and needs an Origin header; a backend mints tokens with POST /v1/api/tokens');
  if (request.embedOrigin !== undefined && request.embedOrigin !== request.origin) throw new ParleyError('forbidden', 'embedOrigin differs from the Origin of the request');
  return request.origin;
}

function newGuestId(): string {
  return `guest-${randomBytes(16).toString('hex')}`;
}

function matches(expected: string, given: string): boolean {
  return expected.length === given.length && timingSafeEqual(Buffer.from(expected), Buffer.from(given));
}
