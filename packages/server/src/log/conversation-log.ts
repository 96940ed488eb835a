import { audienceOf, checkEventData, type Actor, type ConversationEvent, type KnownEventType, type KnownSignal, type StaffEvent } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { Bus, MemberStore, PlannedEvent, Store, SupportStore, TransitionPlan } from '../core/ports.js';
import type { AppendInput, AppendResult, ConversationKey, ConversationMemory, ConversationRecord, NewConversation } from '../core/types.js';
import { activeTraceparent, contextOf, eventAttributes, inSpan, SpanKind } from '../observability/tracing.js';

const PUBLISH_RETRIES = 5;
// Conversations kept for `getRecent`, and for how long.
const RECENT_CONVERSATIONS = 10_000;
const RECENT_CONVERSATION_MS = 5_000;
const PUBLISH_RETRY_BASE_MS = 200;

/** Observers of the log, so that metrics and logging stay outside it. */
export interface LogHooks {
  appended?(event: ConversationEvent, durationSeconds: number): void;
  /** The event is durable but its publish failed; subscribers heal the gap from the store. */
  publishFailed?(event: ConversationEvent, error: unknown): void;
  /** Right after any event is committed through this log (before its publish): wakes the reactions. */
  committed?(event: ConversationEvent): void;
  /** A staff-only event is durable but its publish failed; staff subscribers heal the gap from the store. */
  staffPublishFailed?(event: StaffEvent, error: unknown): void;
}

/** Where an event's data came from: a bad payload is the server's bug, or the client's mistake. */
export interface AppendOptions {
  /** The data was given by a client (a REST body, say): a mismatch is `bad_request`, not `internal`. Default `server`. */
  origin?: 'client' | 'server';
}

export interface HistoryPage {
  events: ConversationEvent[];
  hasMore: boolean;
}

/**
 * The conversation log: commits events to the store first (the commit point), then publishes them.
 * Reads prefer the bus's hot log and fall back to the store when it cannot vouch for a range.
 */
export class ConversationLog {
  private readonly recent = new Map<string, { conversation: ConversationRecord; readAt: number }>();

  constructor(
    private readonly store: Store & MemberStore & { readonly support: SupportStore },
    private readonly bus: Bus,
    private readonly hooks: LogHooks = {},
  ) {}

  async create(input: NewConversation): Promise<{ conversation: ConversationRecord; created: boolean }> {
    const { conversation, event } = await this.store.createConversation(input);
    if (event) void this.publish(event);
    return { conversation, created: event !== null };
  }

  get(key: ConversationKey): Promise<ConversationRecord | null> {
    return this.store.getConversation(key);
  }

  /**
   * The conversation as read at most RECENT_CONVERSATION_MS ago, for checks on what does not change once a
   * conversation exists (its tenant, members and assistant): a send then costs no extra query. `lastSeq`
   * may be behind; use `get` where it matters.
   */
  async getRecent(key: ConversationKey): Promise<ConversationRecord | null> {
    const name = `${key.tenant}/${key.conversationId}`;
    const cached = this.recent.get(name);
    if (cached && performance.now() - cached.readAt < RECENT_CONVERSATION_MS) return cached.conversation;
    const conversation = await this.store.getConversation(key);
    if (!conversation) return null;
    this.recent.delete(name);
    this.recent.set(name, { conversation, readAt: performance.now() });
    // Oldest first in a Map: beyond the bound, the least recently read goes.
    if (this.recent.size > RECENT_CONVERSATIONS) this.recent.delete(this.recent.keys().next().value!);
    return conversation;
  }

  /**
   * Commits an event, then publishes it. Its data is checked against the catalogue first, so a payload that
   * drifted from its schema is refused before it is stored: `internal` (a server bug) or, for data a client
   * gave, `bad_request`.
   */
  append<Type extends KnownEventType>(input: AppendInput<Type>, options: AppendOptions = {}): Promise<AppendResult> {
    // Staff-only types take staff seqs (appendStaff): in the members' sequence they would reach members.
    const problem = audienceOf(input.type) === 'staff' ? `${input.type} is staff-only: append it with appendStaff` : checkEventData(input.type, input.data);
    if (problem) return Promise.reject(new ParleyError(options.origin === 'client' ? 'bad_request' : 'internal', `refused to append: ${problem}`));
    const attributes = { 'parley.tenant': input.key.tenant, 'parley.conversation.id': input.key.conversationId, 'parley.event.type': input.type };
    return inSpan('parley.log.append', { attributes }, async (span) => {
      const started = performance.now();
      const result = await this.store.append(withTraceparent(input));
      span.setAttributes({ 'parley.event.seq': result.event.seq, 'parley.duplicate': result.duplicate });
      if (!result.duplicate) {
        this.hooks.appended?.(result.event, (performance.now() - started) / 1000);
        // Not awaited: the ack depends on the commit only, never on the bus (which may be down).
        void this.publish(result.event);
      }
      return result;
    });
  }

  /** Moves the read marker; `durable` records it as a `receipt.read` event too (not in large rooms). */
  async markRead(key: ConversationKey, userId: string, seq: number, durable: boolean): Promise<{ seq: number; changed: boolean }> {
    const result = await this.store.markRead(key, userId, seq, durable);
    if (result.event) void this.publish(result.event);
    return { seq: result.seq, changed: result.moved };
  }

  /** Merges a metadata patch, recorded as `conversation.updated`; null when the conversation does not exist. */
  async updateMetadata(key: ConversationKey, patch: Record<string, unknown>, actor: Actor): Promise<{ conversation: ConversationRecord; event: ConversationEvent } | null> {
    const result = await this.store.updateMetadata(key, patch, actor);
    if (result) this.committed(result.event);
    return result;
  }

  /** Adds members, recorded as `members.added` when anyone was added. */
  async addMembers(key: ConversationKey, userIds: string[], actor: Actor): Promise<{ added: string[]; event: ConversationEvent | null }> {
    const result = await this.store.addMembers(key, userIds, actor);
    if (result.event) this.committed(result.event);
    return result;
  }

  /** Removes members, recorded as `members.removed` when anyone was removed. */
  async removeMembers(key: ConversationKey, userIds: string[], actor: Actor): Promise<{ removed: string[]; event: ConversationEvent | null }> {
    const result = await this.store.removeMembers(key, userIds, actor);
    if (result.event) this.committed(result.event);
    return result;
  }

  /**
   * Changes a support conversation's mode (see conversations/modes.ts) with its events in one transaction,
   * then publishes them: members' events on the conversation's channel, staff-only ones as staff signals.
   */
  async transition(key: ConversationKey, agentIds: string[], plan: (current: ConversationRecord) => TransitionPlan): Promise<{ conversation: ConversationRecord; events: ConversationEvent[]; staffEvents: StaffEvent[] }> {
    const result = await this.store.support.transition(key, agentIds, plan);
    this.forget(key);
    for (const event of result.events) void this.publish(event);
    for (const event of result.staffEvents) void this.publishStaff(event);
    for (const event of result.events) if (event.type === 'conversation.assigned') void this.tellAssignee(event);
    return result;
  }

  /** Appends a staff-only event (its own sequence), then publishes it to staff. */
  async appendStaff(key: ConversationKey, event: PlannedEvent): Promise<{ event: StaffEvent; duplicate: boolean }> {
    const result = await this.store.support.appendStaff(key, event);
    if (!result.duplicate) void this.publishStaff(result.event);
    return result;
  }

  /** Staff-only events after staff seq `after`, ascending. */
  readStaffAfter(key: ConversationKey, after: number, limit: number): Promise<StaffEvent[]> {
    return this.store.support.readStaff(key, after, limit);
  }

  /**
   * Tells the agent a conversation was assigned to them, on every connection of theirs on every node (a
   * `notification` push: `{type: 'support.assigned', conversationId, seq}`), so that no console has to poll.
   */
  private async tellAssignee(event: ConversationEvent): Promise<void> {
    const agentId = (event.data as { agentId?: unknown }).agentId;
    if (typeof agentId !== 'string') return;
    const notification = { id: event.id, ts: event.ts, data: { type: 'support.assigned', conversationId: event.conversation, seq: event.seq } };
    await this.bus.publishControl({ type: 'user.notify', tenant: event.tenant, userId: agentId, notification }).catch(() => undefined);
  }

  /** Staff-only events travel as `staff.event` signals (staff audience): subscribers heal a lost one from the store. */
  private async publishStaff(event: StaffEvent): Promise<void> {
    const signal: KnownSignal<'staff.event'> = { tenant: event.tenant, conversation: event.conversation, type: 'staff.event', ts: event.ts, actor: event.actor, data: event };
    await this.bus.publishSignal(signal).catch((error: unknown) => this.hooks.staffPublishFailed?.(event, error));
  }

  /** Drops the recently read copy of a conversation (its members changed): the next check reads it again. */
  forget(key: ConversationKey): void {
    this.recent.delete(`${key.tenant}/${key.conversationId}`);
  }

  /** A conversation-changing event was committed: the cached record is stale, and subscribers must hear of it. */
  private committed(event: ConversationEvent): void {
    this.forget({ tenant: event.tenant, conversationId: event.conversation });
    void this.publish(event);
  }

  getMemory(key: ConversationKey): Promise<ConversationMemory | null> {
    return this.store.getMemory(key);
  }

  putMemory(key: ConversationKey, summary: string, throughSeq: number): Promise<boolean> {
    return this.store.putMemory(key, summary, throughSeq);
  }

  /** Committed events with seq > after, ascending, at most `limit`. */
  async readAfter(key: ConversationKey, after: number, limit: number): Promise<ConversationEvent[]> {
    const hot = await this.bus.readHotLog(key, after, limit).catch(() => null);
    // Events committed but not yet published are missing from a short hot page; they arrive live,
    // and the subscriber's OrderedFeed fetches any that never do when it sees the next seq.
    if (hot?.complete && isContiguousFrom(hot.events, after + 1)) return hot.events;
    return this.store.readRange(key, { after, limit, from: 'oldest' });
  }

  /** A page of history: after `after` (oldest first) or before `before` (the newest ones); ascending either way. */
  async history(key: ConversationKey, query: { before?: number; after?: number; limit: number }): Promise<HistoryPage> {
    const from = query.after !== undefined ? 'oldest' : 'newest';
    const events = await this.store.readRange(key, { ...query, limit: query.limit + 1, from });
    const hasMore = events.length > query.limit;
    if (!hasMore) return { events, hasMore };
    return { events: from === 'oldest' ? events.slice(0, query.limit) : events.slice(1), hasMore };
  }

  /**
   * Publishes a committed event. A failure does not fail the append (the event is durable): it is retried in
   * the background a few times, and subscribers read anything still missing from the store when they see
   * the next seq or when the bus re-subscribes.
   */
  private async publish(event: ConversationEvent, attempt = 0): Promise<void> {
    // Every commit path publishes, once with attempt 0: the one place that sees each committed event.
    if (attempt === 0) this.hooks.committed?.(event);
    try {
      await this.publishTraced(event, attempt);
    } catch (error) {
      this.hooks.publishFailed?.(event, error);
      if (attempt < PUBLISH_RETRIES) {
        setTimeout(() => void this.publish(event, attempt + 1), PUBLISH_RETRY_BASE_MS * 2 ** attempt).unref();
      }
    }
  }

  /** Publishes as a `parley.bus.publish` span in the trace of the append that stored the event, if it has one. */
  private publishTraced(event: ConversationEvent, attempt: number): Promise<void> {
    const traceparent = event.causation?.traceparent;
    if (!traceparent) return this.bus.publishEvent(event);
    const options = { kind: SpanKind.PRODUCER, parent: contextOf(traceparent), attributes: { ...eventAttributes(event), 'parley.attempt': attempt } };
    return inSpan('parley.bus.publish', options, () => this.bus.publishEvent(event));
  }
}

/** The input with the active span's trace context in its causation, so that whoever delivers the event can join the trace. */
function withTraceparent<Type extends KnownEventType>(input: AppendInput<Type>): AppendInput<Type> {
  const traceparent = activeTraceparent();
  return traceparent ? { ...input, causation: { ...input.causation, traceparent } } : input;
}

function isContiguousFrom(events: ConversationEvent[], firstSeq: number): boolean {
  return events.every((event, index) => event.seq === firstSeq + index);
}
