import type { WidgetConfig, WidgetKeyView, WidgetSecretResult, WidgetSecretState, WidgetTokenResult } from '@parley/protocol';

/**
 * Managing a tenant's widget keys and its widget secret (the REST routes call it, after authorizing).
 * Every method sees the given tenant's keys only: another tenant's key is `not_found`.
 */
export interface WidgetAdmin {
  createKey(tenant: string, createdBy: string, input: { name: string; allowedOrigins: string[] }): Promise<WidgetKeyView>;
  listKeys(tenant: string): Promise<WidgetKeyView[]>;
  getKey(tenant: string, key: string): Promise<WidgetKeyView>;
  /** `conflict` for a revoked key. */
  updateKey(tenant: string, key: string, changes: { name?: string | undefined; allowedOrigins?: string[] | undefined }): Promise<WidgetKeyView>;
  /** The token route refuses a revoked key at once. */
  revokeKey(tenant: string, key: string): Promise<void>;
  secretState(tenant: string): Promise<WidgetSecretState>;
  /** Sets a new secret, replacing any: the answer is the only time it is shown. */
  rotateSecret(tenant: string): Promise<WidgetSecretResult>;
  /** Turns identity verification off (guests only); `not_found` when there was no secret. */
  deleteSecret(tenant: string): Promise<void>;
}

/** A guest-token request as the HTTP route saw it (the body already validated). */
export interface WidgetTokenRequest {
  widgetKey: string;
  /** The embedding page's origin, as the widget's frame reports it. */
  embedOrigin?: string | undefined;
  guestId?: string | undefined;
  userId?: string | undefined;
  userHash?: string | undefined;
  /** The request's `Origin` header. */
  origin: string | undefined;
  /** Whether a page of Parley's own origin (the widget's frame) sent it. */
  fromWidgetFrame: boolean;
  /** The client's address, for the per-address limit. */
  address: string;
}

/** The public side of the widget: what its frame may know of a key, and end-user tokens for sites without a backend. */
export interface WidgetTokenIssuer {
  /** `not_found` for an unknown or revoked key. */
  config(widgetKey: string): Promise<WidgetConfig>;
  /** Allowed origins of an active key, or null: the frame's `frame-ancestors`. */
  frameAncestors(widgetKey: string): Promise<string[] | null>;
  /** `forbidden` (origin, identity), `not_found` (key), `rate_limited` (with retryAfterMs), `unavailable` (no signing key). */
  mint(request: WidgetTokenRequest): Promise<WidgetTokenResult>;
}
