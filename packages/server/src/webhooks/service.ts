import { isIP } from 'node:net';
import { z } from 'zod';
import { ParleyError } from '../core/errors.js';
import { decodeOpaqueCursor, encodeOpaqueCursor } from '../core/opaque-cursor.js';
import type { WebhookAdmin, WebhookDelivery, WebhookDeliveryPage, WebhookEndpoint, WebhookEndpointWithSecret, WebhookStore } from '../core/ports.js';

export type { WebhookDeliveryPage, WebhookEndpointWithSecret } from '../core/ports.js';
import type { OutboundPolicy } from '../net/outbound-policy.js';
import { newId, newSecret } from './payload.js';
import {
  MAX_ENDPOINTS_PER_TENANT,
  webhookDeliveryQuerySchema,
  webhookEndpointInputSchema,
  webhookEndpointPatchSchema,
  webhookIdSchema,
  type WebhookDeliveryQueryInput,
  type WebhookEndpointInput,
  type WebhookEndpointPatchInput,
} from './schemas.js';

// After a rotation the old secret signs too (a second signature) for this long, so receivers can switch over.
const ROTATION_OVERLAP_MS = 24 * 3_600_000;


/** What the service needs. */
export interface WebhookServiceOptions {
  store: WebhookStore;
  /** Refuses at once an endpoint URL whose host is an address the outbound policy would refuse. */
  policy: OutboundPolicy;
  /** A delivery was made due: wakes this node's worker. */
  redelivered?: () => void;
}

/**
 * Webhook endpoints and their delivery logs, for the REST API. Every method takes the caller's tenant and
 * sees that tenant's endpoints and deliveries only: another tenant's id is `not_found`. Inputs are validated
 * with the exported schemas (the routes' own) and refused as `bad_request`.
 */
export class WebhookService implements WebhookAdmin {
  constructor(private readonly options: WebhookServiceOptions) {}

  /**
   * Creates an endpoint and returns it with its secret, which is shown this once. The secret is stored as is
   * (signing needs the key itself, so it cannot be hashed); rotate it if it leaks.
   */
  async createEndpoint(tenant: string, input: WebhookEndpointInput): Promise<WebhookEndpointWithSecret> {
    const { url, types, description } = parse(webhookEndpointInputSchema, input);
    this.checkAddress(url);
    const secret = newSecret();
    const endpoint = await this.options.store.createEndpoint(
      { id: newId('we'), tenant, url, types: [...new Set(types)], description, secret, createdAt: Date.now() },
      MAX_ENDPOINTS_PER_TENANT,
    );
    if (!endpoint) throw new ParleyError('conflict', `a tenant has at most ${MAX_ENDPOINTS_PER_TENANT} webhook endpoints`);
    return { endpoint, secret };
  }

  /** The tenant's endpoints, oldest first, without secrets. */
  listEndpoints(tenant: string): Promise<WebhookEndpoint[]> {
    return this.options.store.listEndpoints(tenant);
  }

  async getEndpoint(tenant: string, id: string): Promise<WebhookEndpoint> {
    return found(await this.options.store.getEndpoint(tenant, parse(webhookIdSchema, id)), 'webhook endpoint');
  }

  /** Changes an endpoint; disabling skips its pending deliveries, enabling clears the disabled reason. */
  async updateEndpoint(tenant: string, id: string, input: WebhookEndpointPatchInput): Promise<WebhookEndpoint> {
    const patch = parse(webhookEndpointPatchSchema, input);
    if (patch.url) this.checkAddress(patch.url);
    const cleaned = { ...patch, ...(patch.types ? { types: [...new Set(patch.types)] } : {}) };
    return found(await this.options.store.updateEndpoint(tenant, parse(webhookIdSchema, id), withoutUndefined(cleaned), Date.now()), 'webhook endpoint');
  }

  /** Deletes an endpoint and its delivery log. */
  async deleteEndpoint(tenant: string, id: string): Promise<void> {
    if (!(await this.options.store.deleteEndpoint(tenant, parse(webhookIdSchema, id)))) throw notFound('webhook endpoint');
  }

  /** A new secret, shown this once; the old one keeps signing beside it for 24 hours. */
  async rotateSecret(tenant: string, id: string): Promise<WebhookEndpointWithSecret> {
    const endpointId = parse(webhookIdSchema, id);
    const secret = newSecret();
    const now = Date.now();
    if (!(await this.options.store.rotateSecret(tenant, endpointId, secret, now + ROTATION_OVERLAP_MS, now))) throw notFound('webhook endpoint');
    return { endpoint: await this.getEndpoint(tenant, endpointId), secret };
  }

  /** One page of an endpoint's deliveries, newest first. */
  async listDeliveries(tenant: string, endpointId: string, input: WebhookDeliveryQueryInput = {}): Promise<WebhookDeliveryPage> {
    const query = parse(webhookDeliveryQuerySchema, input);
    const endpoint = await this.getEndpoint(tenant, endpointId);
    const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const deliveries = await this.options.store.listDeliveries(tenant, endpoint.id, {
      limit: query.limit,
      ...(query.status ? { status: query.status } : {}),
      ...(before ? { before } : {}),
    });
    const last = deliveries.at(-1);
    return { deliveries, nextCursor: deliveries.length === query.limit && last ? encodeCursor(last) : null };
  }

  async getDelivery(tenant: string, id: string): Promise<WebhookDelivery> {
    return found(await this.options.store.getDelivery(tenant, parse(webhookIdSchema, id)), 'webhook delivery');
  }

  /**
   * Sends a delivery again, soon, with a fresh retry window: a delivered, failed or skipped one as well as a
   * pending one waiting for its retry. One in flight is left to finish. Its endpoint must be enabled.
   */
  async redeliver(tenant: string, id: string): Promise<WebhookDelivery> {
    const delivery = await this.getDelivery(tenant, id);
    const endpoint = await this.getEndpoint(tenant, delivery.endpointId);
    if (!endpoint.enabled) throw new ParleyError('conflict', 'the endpoint is disabled: enable it first', { details: { reason: endpoint.disabledReason } });
    const redelivered = found(await this.options.store.redeliver(tenant, delivery.id, Date.now()), 'webhook delivery');
    this.options.redelivered?.();
    return redelivered;
  }

  /** An address literal that the outbound policy refuses is refused now rather than at every attempt. */
  private checkAddress(url: string): void {
    const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
    const refusal = isIP(host) === 0 ? null : this.options.policy.refusal(host, host);
    if (refusal !== null) throw new ParleyError('bad_request', `url: ${refusal}`);
  }
}

function parse<Schema extends z.ZodType>(schema: Schema, input: unknown): z.output<Schema> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ParleyError('bad_request', `${issue?.path.join('.') || 'input'}: ${issue?.message ?? 'invalid'}`, { details: { issues: parsed.error.issues.map((each) => ({ path: each.path.join('.'), message: each.message })) } });
}

function notFound(what: string): ParleyError {
  return new ParleyError('not_found', `${what} not found`);
}

function found<T>(value: T | null, what: string): T {
  if (value === null) throw notFound(what);
  return value;
}

function withoutUndefined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, each]) => each !== undefined)) as T;
}

/** The position after `delivery` in the log, as an opaque string. */
function encodeCursor(delivery: WebhookDelivery): string {
  return encodeOpaqueCursor([delivery.createdAt, delivery.seq, delivery.id]);
}

const logPositionSchema = z.tuple([z.int(), z.int(), webhookIdSchema]);

function decodeCursor(cursor: string): { createdAt: number; seq: number; id: string } {
  const [createdAt, seq, id] = decodeOpaqueCursor(cursor, logPositionSchema, 'cursor: not a cursor of this list');
  return { createdAt, seq, id };
}
