import type { ConversationEvent } from '@parley/protocol';
import type { NewWebhookDelivery, Reaction, WebhookStore } from '../core/ports.js';
import type { ConversationKey } from '../core/types.js';
import { matchesTypes } from './filters.js';
import { newId } from './payload.js';

/** Who may see an event of a type: its members, or staff only. */
export type Audience = (type: string) => 'members' | 'staff';

/** Every event type of protocol v1 is for members; staff-only types come with the support desk. */
const everyTypeForMembers: Audience = () => 'members';

/** What the webhook reaction needs. */
export interface WebhookReactionOptions {
  store: WebhookStore;
  /** The catalogue's audience of each type: staff-only events are never delivered. */
  audience?: Audience;
  /** New deliveries were enqueued: wakes this node's worker at once. */
  enqueued?: () => void;
}

/**
 * Turns a conversation's events into pending deliveries: one per (enabled endpoint of the tenant, event)
 * whose filter matches the event's type, for events from the endpoint's creation on and visible to members.
 * Events come at least once; the store keeps one delivery per (endpoint, event), so a repeat adds nothing.
 */
export class WebhookReaction implements Reaction {
  readonly name = 'webhooks';
  private readonly audience: Audience;

  constructor(private readonly options: WebhookReactionOptions) {
    this.audience = options.audience ?? everyTypeForMembers;
  }

  async handle(key: ConversationKey, events: ConversationEvent[]): Promise<void> {
    const visible = events.filter((event) => this.audience(event.type) === 'members');
    if (visible.length === 0) return;
    const endpoints = (await this.options.store.listEndpoints(key.tenant)).filter((endpoint) => endpoint.enabled);
    const deliveries: NewWebhookDelivery[] = [];
    for (const event of visible) {
      for (const endpoint of endpoints) {
        if (event.ts >= endpoint.createdAt && matchesTypes(endpoint.types, event.type)) deliveries.push({ id: newId('wd'), endpointId: endpoint.id, event });
      }
    }
    const added = await this.options.store.enqueue(key.tenant, key.conversationId, deliveries, Date.now());
    if (added > 0) this.options.enqueued?.();
  }
}
