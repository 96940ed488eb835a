import { z } from 'zod';
import { identifierSchema } from './ids.js';

/**
 * The embeddable widget: public widget keys (which sites may embed the chat of a tenant, and mint guest
 * tokens there), the tenant's identity-verification secret, and the guest-token route. See docs/widget.md.
 */

/** Every widget key starts with this; it is public (it sits in the site's HTML), unlike an API key. */
export const WIDGET_KEY_PREFIX = 'pwk_';
/** Allowed origins one key may list. */
export const MAX_WIDGET_ORIGINS = 20;
/** Keys one tenant may have (revoked ones included). */
export const MAX_WIDGET_KEYS_PER_TENANT = 100;

export const widgetKeySchema = z.string().regex(/^pwk_[A-Za-z0-9]{24}$/, 'not a widget key (pwk_ and 24 letters or digits)');

/** Whether `text` is exactly a web origin: `http(s)://host[:port]`, lowercase, without a path or a trailing slash. */
export function isWebOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === text;
  } catch {
    return false;
  }
}

/** A site's origin, as browsers send it in `Origin`. */
export const webOriginSchema = z
  .string()
  .max(200)
  .refine(isWebOrigin, { message: 'must be an origin such as https://www.example.com (scheme, host and port only, lowercase, no trailing slash)' });

/** The body of "create a widget key". */
export const widgetKeyInputSchema = z.object({
  name: z.string().min(1).max(100),
  /** The sites that may embed the widget with this key and mint guest tokens with it. */
  allowedOrigins: z.array(webOriginSchema).min(1).max(MAX_WIDGET_ORIGINS),
});
export type WidgetKeyInput = z.input<typeof widgetKeyInputSchema>;

/** The body of "change a widget key": its name, its origins, or both. */
export const widgetKeyPatchSchema = z
  .object({ name: z.string().min(1).max(100).optional(), allowedOrigins: z.array(webOriginSchema).min(1).max(MAX_WIDGET_ORIGINS).optional() })
  .refine((patch) => patch.name !== undefined || patch.allowedOrigins !== undefined, { message: 'nothing to change' });
export type WidgetKeyPatch = z.input<typeof widgetKeyPatchSchema>;

export const widgetKeyViewSchema = z.object({
  /** The key itself: public, it goes into the site's `<script data-widget-key>`. */
  key: widgetKeySchema,
  name: z.string(),
  allowedOrigins: z.array(z.string()),
  createdAt: z.number().int(),
  createdBy: z.string(),
  revokedAt: z.number().int().nullable(),
});
export type WidgetKeyView = z.infer<typeof widgetKeyViewSchema>;

/** Whether the tenant verifies claimed user ids (and since when); the secret itself is shown once, when set. */
export const widgetSecretStateSchema = z.object({ configured: z.boolean(), createdAt: z.number().int().nullable() });
export type WidgetSecretState = z.infer<typeof widgetSecretStateSchema>;
export const widgetSecretResultSchema = z.object({ secret: z.string(), createdAt: z.number().int() });
export type WidgetSecretResult = z.infer<typeof widgetSecretResultSchema>;

/** A guest id as the server hands it out: unguessable, so that it can be kept by the browser and presented again. */
export const guestIdSchema = z.string().regex(/^guest-[0-9a-f]{32}$/, 'not a guest id');

/**
 * The body of "mint a widget token" (`POST /v1/widget/token`, no credential): a guest (new, or the one kept
 * by the browser), or a user the site vouches for with `userHash` = hex HMAC-SHA256(tenant's widget secret, userId).
 */
export const widgetTokenBodySchema = z
  .object({
    widgetKey: widgetKeySchema,
    /** The page that embeds the widget; required when the widget's own frame calls (same origin as Parley). */
    embedOrigin: webOriginSchema.optional(),
    guestId: guestIdSchema.optional(),
    userId: identifierSchema.refine((id) => !id.startsWith('guest-'), { message: 'user ids starting with guest- are reserved for guests' }).optional(),
    userHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be the lowercase hex HMAC-SHA256 of the user id').optional(),
  })
  .refine((body) => !(body.userId && body.guestId), { message: 'send a userId or a guestId, not both' })
  .refine((body) => (body.userId === undefined) === (body.userHash === undefined), { message: 'userId and userHash go together' });
export type WidgetTokenBody = z.input<typeof widgetTokenBodySchema>;

export const widgetTokenResultSchema = z.object({
  token: z.string(),
  /** The token's user: the verified user id, or the guest id to keep and present next time. */
  userId: z.string(),
  guest: z.boolean(),
  expiresAt: z.number().int(),
});
export type WidgetTokenResult = z.infer<typeof widgetTokenResultSchema>;

/** What the widget's frame learns about its key (`GET /v1/widget/config?key=`): public facts only. */
export const widgetConfigSchema = z.object({ tenant: z.string(), allowedOrigins: z.array(z.string()), identityVerification: z.boolean() });
export type WidgetConfig = z.infer<typeof widgetConfigSchema>;
