import type { WebhookDeliveryQueryInput, WebhookEndpointInput, WebhookEndpointPatchInput } from '@parley/protocol';
import type { WebhookDelivery, WebhookEndpoint } from './webhook-store.js';

/** An endpoint with its signing secret: returned once, when created or rotated. */
export interface WebhookEndpointWithSecret {
  endpoint: WebhookEndpoint;
  secret: string;
}

/** A page of the delivery log; `nextCursor` fetches the next (older) page, null at the end. */
export interface WebhookDeliveryPage {
  deliveries: WebhookDelivery[];
  nextCursor: string | null;
}

/**
 * Managing a tenant's webhook endpoints and reading their delivery logs (the REST routes call it). Every
 * method sees the given tenant's endpoints and deliveries only: another tenant's id is `not_found`.
 */
export interface WebhookAdmin {
  createEndpoint(tenant: string, input: WebhookEndpointInput): Promise<WebhookEndpointWithSecret>;
  listEndpoints(tenant: string): Promise<WebhookEndpoint[]>;
  getEndpoint(tenant: string, id: string): Promise<WebhookEndpoint>;
  updateEndpoint(tenant: string, id: string, input: WebhookEndpointPatchInput): Promise<WebhookEndpoint>;
  deleteEndpoint(tenant: string, id: string): Promise<void>;
  /** A new secret; the old one keeps signing beside it for a day, so receivers can switch over. */
  rotateSecret(tenant: string, id: string): Promise<WebhookEndpointWithSecret>;
  listDeliveries(tenant: string, endpointId: string, input?: WebhookDeliveryQueryInput): Promise<WebhookDeliveryPage>;
  getDelivery(tenant: string, id: string): Promise<WebhookDelivery>;
  /** Makes a delivery due again at once (a failed or skipped one too). */
  redeliver(tenant: string, id: string): Promise<WebhookDelivery>;
}
