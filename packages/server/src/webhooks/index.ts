/** Webhooks: per-tenant endpoints, a reaction that enqueues deliveries, a worker that delivers them, and a service for the API. */
export { WebhookReaction, type Audience, type WebhookReactionOptions } from './reaction.js';
export { WebhookWorker, retryDelay, type AttemptOutcome, type WebhookObserver, type WebhookWorkerOptions } from './worker.js';
export { WebhookService, type WebhookDeliveryPage, type WebhookEndpointWithSecret, type WebhookServiceOptions } from './service.js';
export * from './schemas.js';
export { matchesTypes, eventTypeFilterSchema, KNOWN_EVENT_TYPES } from './filters.js';
export { webhookBody, signedHeaders, type WebhookPayload } from './payload.js';
