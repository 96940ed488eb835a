import { z } from 'zod';
import { DURABLE_EVENT_TYPES } from './events.js';

/** Bodies and results of the server API's webhook routes, and the event-type filters of an endpoint. */

/** The durable event types an endpoint may name (the protocol's catalogue). */
export const KNOWN_EVENT_TYPES: readonly string[] = DURABLE_EVENT_TYPES;

/** Whether an endpoint with these filters receives events of `type`: `*`, the exact type, or `prefix.*` for `prefix.anything`. */
export function matchesTypes(filters: readonly string[], type: string): boolean {
  return filters.some((filter) => filter === '*' || filter === type || (filter.endsWith('.*') && type.startsWith(filter.slice(0, -1))));
}
/** One event-type filter: `*`, a type of the catalogue, or `prefix.*` where some type of the catalogue starts with `prefix.`. */
export const eventTypeFilterSchema = z
  .string()
  .max(100)
  .refine(
    (filter) => filter === '*' || KNOWN_EVENT_TYPES.includes(filter) || (filter.endsWith('.*') && KNOWN_EVENT_TYPES.some((type) => type.startsWith(filter.slice(0, -1)))),
    { message: `must be *, an event type (${KNOWN_EVENT_TYPES.join(', ')}) or a prefix such as ai.*` },
  );

/** Endpoints one tenant may have. */
export const MAX_ENDPOINTS_PER_TENANT = 50;
/** Deliveries in one page of the log, at most. */
export const MAX_DELIVERY_PAGE = 100;

/** Endpoint and delivery ids as the service hands them out. */
export const webhookIdSchema = z.string().regex(/^w[ed]_[A-Za-z0-9_-]{1,64}$/, 'not a webhook id');

/** An endpoint's URL: http or https, absolute, at most 2,048 characters. */
export const webhookUrlSchema = z.url({ protocol: /^https?$/ }).max(2048);

/** The body of "create an endpoint". */
export const webhookEndpointInputSchema = z.object({
  url: webhookUrlSchema,
  /** Event types it receives: `*`, exact types, or `prefix.*`. */
  types: z.array(eventTypeFilterSchema).min(1).max(50),
  description: z.string().max(500).default(''),
});
export type WebhookEndpointInput = z.input<typeof webhookEndpointInputSchema>;

/** The body of "update an endpoint": any of its fields; enabling clears the disabled reason. */
export const webhookEndpointPatchSchema = z
  .object({
    url: webhookUrlSchema.optional(),
    types: z.array(eventTypeFilterSchema).min(1).max(50).optional(),
    description: z.string().max(500).optional(),
    enabled: z.boolean().optional(),
  })
  .refine((patch) => Object.values(patch).some((value) => value !== undefined), { message: 'nothing to change' });
export type WebhookEndpointPatchInput = z.input<typeof webhookEndpointPatchSchema>;

/** The query of "list an endpoint's deliveries": newest first, keyset-paged by `cursor`. */
export const webhookDeliveryQuerySchema = z.object({
  status: z.enum(['pending', 'delivered', 'failed', 'skipped']).optional(),
  cursor: z.string().max(256).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_DELIVERY_PAGE).default(20),
});
export type WebhookDeliveryQueryInput = z.input<typeof webhookDeliveryQuerySchema>;


/** An endpoint as the API returns it (never with its secret). */
export const webhookEndpointSchema = z.object({
  id: webhookIdSchema,
  tenant: z.string(),
  url: z.string(),
  types: z.array(z.string()),
  description: z.string(),
  enabled: z.boolean(),
  disabledReason: z.string().nullable(),
  failingSince: z.number().int().nullable(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});

/** The answer to "create an endpoint" and "rotate its secret": the secret is shown this once. */
export const webhookEndpointWithSecretSchema = z.object({ endpoint: webhookEndpointSchema, secret: z.string().startsWith('whsec_') });

/** One delivery of the log. */
export const webhookDeliverySchema = z.object({
  id: webhookIdSchema,
  tenant: z.string(),
  endpointId: webhookIdSchema,
  eventId: z.string(),
  eventType: z.string(),
  conversationId: z.string(),
  seq: z.number().int().positive(),
  status: z.enum(['pending', 'delivered', 'failed', 'skipped']),
  attempts: z.number().int().nonnegative(),
  nextAttemptAt: z.number().int().nullable(),
  lastStatusCode: z.number().int().nullable(),
  lastResponse: z.string().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  deliveredAt: z.number().int().nullable(),
});

/** A page of the delivery log. */
export const webhookDeliveryPageSchema = z.object({ deliveries: z.array(webhookDeliverySchema), nextCursor: z.string().nullable() });
