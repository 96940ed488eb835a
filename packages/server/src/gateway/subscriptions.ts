import { CLOSE_CODES, parseSignal, visibleTo, type ConversationEvent, type KnownSignal, type Signal, type StaffEvent, type Viewer } from '@parley/protocol';
import { viewerOf } from '../auth/authorization.js';
import type { ConversationKey } from '../core/types.js';
import { OrderedFeed } from '../log/ordered-feed.js';
import type { HubSubscriber } from './hub.js';
import type { SessionContext } from './session-context.js';

const REPLAY_PAGE_SIZE = 200;
// Live events held during a replay; past it they are dropped and read from the log instead (see OrderedFeed).
const MAX_HELD_EVENTS = 500;
const MAX_HELD_DELTAS = 1000;

/** One conversation subscription of a session: ordered, exactly-once events from `since` on, then live. */
class ConversationSubscription implements HubSubscriber {
  readonly feed: OrderedFeed;
  /** Whether this connection's presence entry was written; false while presence is unreachable (retried with each heartbeat). */
  present = false;
  /** AI deltas that arrive before the snapshots of running generations were sent; null once they were. */
  private heldDeltas: KnownSignal<'ai.delta'>[] | null = [];
  /** Whose view of the conversation this is: live and replayed events alike go through the catalogue's filter. */
  private readonly viewer: Viewer;

  /** Staff-only events, in their own sequence (subscriptions with `staffSince` only); null otherwise. */
  readonly staffFeed: OrderedFeed | null;

  constructor(
    readonly key: ConversationKey,
    private readonly session: SessionContext,
    lastSeq: number,
    /** Whether the room hears this user join and leave (not in large rooms). */
    readonly announcePresence: boolean,
    staffSince?: number,
  ) {
    const { log, gapHoldMs, logger } = session.services;
    this.viewer = viewerOf(session.principal!);
    this.feed = new OrderedFeed({
      lastSeq,
      fetchAfter: (after, limit) => log.readAfter(key, after, limit),
      deliver: (event) => {
        if (visibleTo(event, this.viewer)) session.sendEvent(event);
      },
      // A long replay waits for the client to read, so that catching up never trips the slow-consumer limit.
      pace: () => session.drained(),
      onError: (error) => {
        logger.warn({ err: error, conversation: key.conversationId }, 'subscription failed; client must resume');
        // The client resumes from its last seq on reconnect, which rebuilds the feed from the log.
        session.close(CLOSE_CODES.serverShutdown, 'subscription interrupted');
      },
      holdMs: gapHoldMs,
      pageSize: REPLAY_PAGE_SIZE,
      maxHeld: MAX_HELD_EVENTS,
    });
    // The same exactly-once, in-order delivery over the staff sequence: its seq is the staff seq.
    this.staffFeed =
      staffSince === undefined || this.viewer !== 'staff'
        ? null
        : new OrderedFeed({
            lastSeq: staffSince,
            fetchAfter: async (after, limit) => (await log.readStaffAfter(key, after, limit)).map(asFeedItem),
            deliver: (item) => session.sendStaffEvent(fromFeedItem(item)),
            pace: () => session.drained(),
            onError: (error) => {
              logger.warn({ err: error, conversation: key.conversationId }, 'staff subscription failed; client must resume');
              session.close(CLOSE_CODES.serverShutdown, 'subscription interrupted');
            },
            holdMs: gapHoldMs,
            pageSize: REPLAY_PAGE_SIZE,
            maxHeld: MAX_HELD_EVENTS,
          });
  }

  onEvent(event: ConversationEvent): void {
    this.feed.push(event);
  }

  onGap(): void {
    this.feed.catchUpIfStarted();
  }

  onSignal(signal: Signal): void {
    if (!visibleTo(signal, this.viewer)) return;
    // A staff-only event is never handed on as a signal: only through the staff feed, as a `staffEvent` push.
    if (signal.type === 'staff.event') {
      const parsed = parseSignal(signal);
      if (parsed.ok && parsed.signal.type === 'staff.event') this.staffFeed?.push(asFeedItem(parsed.signal.data));
      return;
    }
    if (signal.type === 'ai.delta' && this.heldDeltas) {
      const parsed = parseSignal(signal);
      if (!parsed.ok) return this.session.services.logger.error({ err: parsed.error }, 'dropped an invalid ai.delta');
      // Past the cap, deltas are dropped: the snapshot sent next covers them.
      if (this.heldDeltas.length < MAX_HELD_DELTAS) this.heldDeltas.push(parsed.signal as KnownSignal<'ai.delta'>);
      return;
    }
    this.session.sendSignal(signal);
  }

  /**
   * Replays the gap, then hands over the text so far of running AI generations (`ai.snapshot`), then the
   * deltas that follow each snapshot: a client that arrives mid-answer assembles it with nothing missing or repeated.
   */
  async start(): Promise<void> {
    await this.feed.catchUp();
    if (this.staffFeed) await this.staffFeed.catchUp();
    const snapshots = await this.session.services.assistants.snapshots(this.key).catch(() => []);
    for (const snapshot of snapshots) {
      const signal: KnownSignal<'ai.snapshot'> = { tenant: this.key.tenant, conversation: this.key.conversationId, type: 'ai.snapshot', ts: Date.now(), actor: { kind: 'assistant', id: snapshot.generationId }, data: snapshot };
      if (visibleTo(signal, this.viewer)) this.session.sendSignal(signal);
    }
    const held = this.heldDeltas ?? [];
    this.heldDeltas = null;
    const covered = new Map(snapshots.map((snapshot) => [snapshot.generationId, snapshot.index]));
    for (const delta of held) {
      const upTo = covered.get(delta.data.generationId);
      if (upTo === undefined || delta.data.index > upTo) this.session.sendSignal(delta);
    }
  }
}

/** A staff event in the shape the OrderedFeed orders (its `seq` is the staff seq), and back. */
function asFeedItem(event: StaffEvent): ConversationEvent {
  return { ...event, seq: event.staffSeq } as ConversationEvent & StaffEvent;
}

function fromFeedItem(item: ConversationEvent): StaffEvent {
  const { seq: _seq, ...event } = item as ConversationEvent & StaffEvent;
  return event;
}

/** The subscriptions of one session, keyed by conversation id (a session belongs to one tenant). */
export class ConversationSubscriptions {
  /** Allocated with the first subscription: an empty Map costs an idle connection about 200 bytes. */
  private byConversation: Map<string, ConversationSubscription> | null = null;

  constructor(private readonly session: SessionContext) {}

  has(conversationId: string): boolean {
    return this.byConversation?.has(conversationId) ?? false;
  }

  /**
   * Starts delivery after `lastSeq`: live events are held from the moment the hub has the subscriber,
   * the gap is read from the log, and the two meet in the feed without gap or duplicate.
   */
  async subscribe(key: ConversationKey, lastSeq: number, announcePresence: boolean, staffSince?: number): Promise<void> {
    const replaced = await this.detach(key);
    const subscription = new ConversationSubscription(key, this.session, lastSeq, announcePresence, staffSince);
    (this.byConversation ??= new Map()).set(key.conversationId, subscription);
    // The hub never refuses: with the bus down, the subscription is served from the log until it is back.
    await this.session.services.hub.attach(key, subscription);
    // Replacing a subscription of this connection keeps its presence: no left/joined flap.
    if (replaced?.present) subscription.present = true;
    else await this.joinPresence(subscription);
    // Catch-up (and with it live delivery) starts after the reply is sent, so the client sees the ack first.
    // It runs even without a gap to replay: events committed while subscribing are read, not lost.
    setImmediate(() => void subscription.start());
  }

  async unsubscribe(key: ConversationKey): Promise<void> {
    const detached = await this.detach(key);
    if (detached?.present) await this.leavePresence(key, detached.announcePresence);
  }

  /**
   * Keeps this connection's presence entries alive (heartbeat); a dead node's entries expire instead. An entry
   * that could not be written (presence was unreachable at subscribe) is written now.
   */
  refreshPresence(): void {
    const { presence, logger } = this.session.services;
    const userId = this.session.principal?.userId;
    if (!userId) return;
    for (const subscription of this.byConversation?.values() ?? []) {
      if (!subscription.present) void this.joinPresence(subscription);
      else presence.refresh(subscription.key, userId, this.session.connection.id).catch((error: unknown) => logger.debug({ err: error }, 'presence refresh failed'));
    }
  }

  /** Stops every replay and live delivery at once (the connection is closing); cleanup follows in closeAll. */
  stopFeeds(): void {
    for (const subscription of this.byConversation?.values() ?? []) {
      subscription.feed.close();
      subscription.staffFeed?.close();
    }
  }

  /** Ends every subscription; the user leaves at once after a closing handshake, else after the presence grace. */
  async closeAll(cleanly: boolean): Promise<void> {
    const subscriptions = [...(this.byConversation?.values() ?? [])];
    await Promise.allSettled(
      subscriptions.map(async ({ key, announcePresence }) => {
        if (!(await this.detach(key))?.present) return;
        if (cleanly) await this.leavePresence(key, announcePresence);
        else this.session.services.departures.schedule(() => this.leavePresence(key, announcePresence));
      }),
    );
  }

  /** Removes the conversation's subscription without touching presence; returns it, if there was one. */
  private async detach(key: ConversationKey): Promise<ConversationSubscription | null> {
    const subscription = this.byConversation?.get(key.conversationId);
    if (!subscription) return null;
    this.byConversation?.delete(key.conversationId);
    subscription.feed.close();
    subscription.staffFeed?.close();
    await this.session.services.hub.detach(key, subscription);
    return subscription;
  }

  /** Writes the presence entry. Presence is not worth refusing a subscription for: while it is unreachable the next heartbeat tries again. */
  private async joinPresence(subscription: ConversationSubscription): Promise<void> {
    const { presence, logger } = this.session.services;
    const userId = this.session.principal!.userId;
    try {
      const joined = await presence.join(subscription.key, userId, this.session.connection.id);
      subscription.present = true;
      if (joined && subscription.announcePresence) await this.publishPresence(subscription.key, 'presence.joined', userId);
    } catch (error) {
      logger.debug({ err: error, conversation: subscription.key.conversationId }, 'presence join failed; retried with the next heartbeat');
    }
  }

  /** Removes the presence entry; one that cannot be removed (presence unreachable) expires on its own. Large rooms hear nothing. */
  private async leavePresence(key: ConversationKey, announce: boolean): Promise<void> {
    const { presence, logger } = this.session.services;
    const userId = this.session.principal!.userId;
    try {
      if ((await presence.leave(key, userId, this.session.connection.id)) && announce) await this.publishPresence(key, 'presence.left', userId);
    } catch (error) {
      logger.debug({ err: error, conversation: key.conversationId }, 'presence leave failed; the entry expires');
    }
  }

  private async publishPresence(key: ConversationKey, type: 'presence.joined' | 'presence.left', userId: string): Promise<void> {
    const signal: KnownSignal<'presence.joined' | 'presence.left'> = { tenant: key.tenant, conversation: key.conversationId, type, ts: Date.now(), actor: { kind: 'user', id: userId }, data: {} };
    await this.session.services.bus.publishSignal(signal).catch(() => undefined);
  }
}
