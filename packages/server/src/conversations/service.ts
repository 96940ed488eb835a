import { randomUUID } from 'node:crypto';
import { visibleTo, type Actor, type Content, type ConversationView, type MemberView, type OperationArgs, type OperationResult, type SupportState, type Viewer } from '@parley/protocol';
import { authorizeConversation, isStaff, requireScope, viewerOf, type ConversationAction } from '../auth/authorization.js';
import { ParleyError } from '../core/errors.js';
import type { AttachmentStore, Assistants, Bus, MemberStore, Presence, UserRateLimits } from '../core/ports.js';
import type { ConversationKey, ConversationRecord, Principal, SupportRecord } from '../core/types.js';
import type { ConversationLog, HistoryPage } from '../log/conversation-log.js';
import { planAccept, planReopen } from './modes.js';
import { checkedContent } from './parts.js';
import { decodeActivityCursor, decodeMemberCursor, encodeActivityCursor, encodeMemberCursor } from './cursors.js';

/** Who a backend posts as (server API): a user, a bot of its own, or the system. Users post as themselves. */
export type Sender = { kind: 'user'; id: string } | { kind: 'bot'; id: string } | { kind: 'system' };

/** A message to append, whoever sends it. */
export interface SendInput {
  conversationId: string;
  /** The sender's idempotency key: a re-send with the same one returns the original ack. */
  clientMsgId: string;
  content: Content;
  replyTo?: number;
  /** Only service principals choose a sender; users always send as themselves. */
  as?: Sender;
}

/** Settings of the use cases. */
export interface ConversationServiceOptions {
  /** Above this many members a conversation is a large room: no receipts as events, no typing or presence broadcast. */
  largeRoomMembers: number;
}

/** What the use cases work with, wired by the composition root. */
export interface ConversationServiceDependencies {
  log: ConversationLog;
  members: MemberStore;
  bus: Pick<Bus, 'publishSignal' | 'publishControl' | 'onControl'>;
  presence: Presence;
  assistants: Assistants;
  /** Messages per sender (a user, or an API key), across every connection and node. */
  sendRates: UserRateLimits;
  /** The teams an agent serves (a few seconds old at most): which support conversations they reach. */
  agentTeams(tenant: string, userId: string): Promise<readonly string[]>;
  /** The files that messages' `file` and `image` parts name. */
  attachments: Pick<AttachmentStore, 'get'>;
}

/**
 * The conversation use cases, once, for every caller: the WebSocket session, the REST API and later SSE,
 * long-poll and the support desk. Each takes the acting `Principal` and authorizes it here; transports keep
 * only connections, framing and limits.
 */
export class ConversationService {
  constructor(
    private readonly dependencies: ConversationServiceDependencies,
    private readonly options: ConversationServiceOptions,
  ) {
    // Members removed on any node: this node's recently read copy of the conversation is stale.
    dependencies.bus.onControl((message) => {
      if (message.type === 'members.removed') dependencies.log.forget({ tenant: message.tenant, conversationId: message.conversationId });
    });
  }

  /** Creates a conversation (or returns the existing one with that id, if the principal may read it). */
  async open(principal: Principal, args: OperationArgs<'conversation.open'>): Promise<OperationResult<'conversation.open'>> {
    requireScope(principal, 'conversations:write');
    if (args.assistant !== undefined && !this.dependencies.assistants.hasProfile(args.assistant)) {
      throw new ParleyError('bad_request', `no assistant profile named ${JSON.stringify(args.assistant)}`);
    }
    const key = { tenant: principal.tenant, conversationId: args.conversationId ?? randomUUID() };
    const { conversation, created } = await this.dependencies.log.create({
      key,
      createdBy: principal.userId,
      creatorKind: actorOf(principal).kind,
      members: args.members,
      metadata: args.metadata,
      assistant: args.assistant ?? null,
    });
    if (!created) await this.authorize(principal, conversation, key.conversationId, 'read');
    return { conversation: toView(conversation, viewerOf(principal)), created };
  }

  async get(principal: Principal, conversationId: string): Promise<ConversationRecord> {
    return this.authorized(principal, conversationId, 'read', true);
  }

  /** The caller's conversations (a service principal names the user), most recently active first. */
  async list(principal: Principal, args: OperationArgs<'conversation.list'> & { userId?: string }): Promise<OperationResult<'conversation.list'>> {
    const userId = this.listedUser(principal, args.userId);
    const after = args.cursor === undefined ? null : decodeActivityCursor(args.cursor);
    const page = await this.dependencies.members.listConversations(principal.tenant, userId, after, args.limit);
    return {
      conversations: page.items.map(({ conversation, lastReadSeq }) => ({
        ...toView(conversation, viewerOf(principal)),
        lastEventAt: conversation.lastEventAt,
        lastReadSeq,
        unread: Math.max(0, conversation.lastSeq - lastReadSeq),
      })),
      nextCursor: page.next ? encodeActivityCursor(page.next) : null,
    };
  }

  async update(principal: Principal, args: OperationArgs<'conversation.update'>): Promise<OperationResult<'conversation.update'>> {
    await this.authorized(principal, args.conversationId, 'manage', true);
    const updated = await this.dependencies.log.updateMetadata(keyOf(principal, args.conversationId), args.metadata, actorOf(principal));
    if (!updated) throw new ParleyError('not_found', `conversation ${args.conversationId} does not exist`);
    return { conversation: toView(updated.conversation, viewerOf(principal)), seq: updated.event.seq };
  }

  /**
   * Appends a message. The assistant admits it before the commit (a full queue or a spent budget is the
   * sender's error, and nothing is stored); `queued` is called once its place in the conversation is taken.
   */
  async send(principal: Principal, input: SendInput, queued?: () => void): Promise<OperationResult<'message.send'>> {
    let conversation = await this.authorized(principal, input.conversationId, 'send', false);
    const actor = this.senderOf(principal, input.as);
    const key = keyOf(principal, input.conversationId);
    // Across all of the sender's connections, on every node (a per-connection bucket alone would multiply with them).
    const rateKey = principal.kind === 'service' ? `apikey:${principal.userId}` : actor.id;
    const waitMs = await this.dependencies.sendRates.take(conversation.tenant, rateKey);
    if (waitMs > 0) throw new ParleyError('rate_limited', 'too many messages from this sender', { retryAfterMs: waitMs, details: { scope: principal.kind === 'service' ? 'api_key' : 'user' } });
    const causation = {
      clientMsgId: input.clientMsgId,
      ...(input.replyTo !== undefined ? { replyTo: input.replyTo } : {}),
      ...(principal.kind === 'service' ? { apiKeyId: principal.userId } : {}),
    };
    // In a support conversation the mode decides what a message does: read it fresh, not from the recent copy.
    if (conversation.support) conversation = await this.beforeSupportMessage(key, actor);
    const content = await this.checkedContent(key, input.content);
    const admission = await this.dependencies.assistants.admit(conversation, actor);
    let appended;
    try {
      // Refused (`conflict`) if the conversation was closed meanwhile: `closed` is final.
      const requireModes = conversation.support ? OPEN_MODES : undefined;
      const appending = this.dependencies.log.append({ key, type: 'message.created', actor, data: { content }, causation, ...(requireModes ? { requireModes } : {}) }, { origin: 'client' });
      queued?.();
      appended = await appending;
    } catch (error) {
      admission.release();
      throw error;
    }
    const { event, duplicate } = appended;
    if (duplicate) admission.release();
    else admission.committed(event);
    if (!duplicate && conversation.support?.assigneeId === actor.id) await this.assigneeAnswered(key, actor.id, conversation);
    return { eventId: event.id, seq: event.seq, ts: event.ts, duplicate };
  }

  /** Rich content checked against the conversation: its attachments, and the quick replies and forms it answers. */
  private checkedContent(key: ConversationKey, content: Content): Promise<Content> {
    return checkedContent(content, {
      attachment: (id) => this.dependencies.attachments.get(key.tenant, key.conversationId, id),
      event: async (seq) => (await this.dependencies.log.history(key, { after: seq - 1, limit: 1 })).events.find((event) => event.seq === seq) ?? null,
    });
  }

  /** Authorizes `action` on the conversation for another use case (attachments) and returns it, freshly read. */
  async authorizeAction(principal: Principal, conversationId: string, action: 'read' | 'send'): Promise<ConversationRecord> {
    return this.authorized(principal, conversationId, action, true);
  }

  /**
   * A customer's message to a resolved conversation reopens it to the assistant; nothing can be sent to a
   * closed one. Returns the conversation as it stands.
   */
  private async beforeSupportMessage(key: ConversationKey, actor: Actor): Promise<ConversationRecord> {
    const conversation = await this.dependencies.log.get(key);
    if (!conversation?.support) throw new ParleyError('not_found', `conversation ${key.conversationId} does not exist`);
    if (conversation.support.mode === 'closed') throw new ParleyError('conflict', 'the conversation is closed', { details: { mode: 'closed' } });
    if (conversation.support.mode !== 'resolved' || actor.kind !== 'user') return conversation;
    try {
      return (await this.dependencies.log.transition(key, [], (current) => planReopen(current, { actor, by: 'customer', now: Date.now() }))).conversation;
    } catch (error) {
      // Reopened (or closed) by someone else meanwhile: go on with the conversation as it is now.
      if (error instanceof ParleyError && error.code === 'conflict') return (await this.dependencies.log.get(key)) ?? conversation;
      throw error;
    }
  }

  /** The assignee's message accepts the assignment and, the first time, measures the first response. */
  private async assigneeAnswered(key: ConversationKey, agentId: string, conversation: ConversationRecord): Promise<void> {
    const now = Date.now();
    if (!planAccept(conversation, { agentId, now, responded: true })) return;
    await this.dependencies.log
      .transition(key, [], (current) => planAccept(current, { agentId, now, responded: true }) ?? { patch: {}, events: [] })
      .catch((error: unknown) => {
        if (!(error instanceof ParleyError && error.code === 'conflict')) throw error;
      });
  }

  async history(principal: Principal, args: OperationArgs<'history'>): Promise<HistoryPage> {
    await this.authorized(principal, args.conversationId, 'read', false);
    if (args.before !== undefined && args.after !== undefined && args.before <= args.after + 1) return { events: [], hasMore: false };
    const page = await this.dependencies.log.history(keyOf(principal, args.conversationId), args);
    const viewer = viewerOf(principal);
    return { events: page.events.filter((event) => visibleTo(event, viewer)), hasMore: page.hasMore };
  }

  /**
   * Authorizes a live subscription from `since` (default: from now) and says how to run it; the transport
   * holds the subscription itself. Large rooms do not announce presence.
   */
  async authorizeSubscription(principal: Principal, conversationId: string, since: number | undefined): Promise<{ headSeq: number; announcePresence: boolean }> {
    if (principal.kind === 'service') throw new ParleyError('forbidden', 'API keys cannot subscribe; use webhooks');
    const conversation = await this.authorized(principal, conversationId, 'read', true);
    if (since !== undefined && since > conversation.lastSeq) {
      throw new ParleyError('conflict', `since ${since} is ahead of the conversation (last seq ${conversation.lastSeq})`, { details: { headSeq: conversation.lastSeq } });
    }
    return { headSeq: conversation.lastSeq, announcePresence: !this.isLargeRoom(conversation) };
  }

  /** Tells the room that the user types; large rooms hear nothing (it would be a storm). */
  async typing(principal: Principal, args: OperationArgs<'typing'>): Promise<void> {
    const conversation = await this.authorized(principal, args.conversationId, 'send', false);
    if (this.isLargeRoom(conversation)) return;
    const actor = actorOf(principal);
    await this.dependencies.bus.publishSignal({ tenant: principal.tenant, conversation: args.conversationId, type: 'typing', ts: Date.now(), actor, data: { active: args.active } });
  }

  /** Moves the caller's read marker; in large rooms without a `receipt.read` event. */
  async read(principal: Principal, args: OperationArgs<'read'>): Promise<OperationResult<'read'>> {
    const conversation = await this.authorized(principal, args.conversationId, 'send', true);
    if (principal.kind === 'service' || !(await this.isMember(conversation, principal.userId))) throw new ParleyError('forbidden', 'only members have read markers');
    if (args.seq > conversation.lastSeq) throw new ParleyError('bad_request', `seq ${args.seq} does not exist yet (last seq ${conversation.lastSeq})`);
    return this.dependencies.log.markRead(keyOf(principal, args.conversationId), principal.userId, args.seq, !this.isLargeRoom(conversation));
  }

  async presence(principal: Principal, conversationId: string): Promise<OperationResult<'presence'>> {
    await this.authorized(principal, conversationId, 'read', false);
    return { online: await this.dependencies.presence.list(keyOf(principal, conversationId)) };
  }

  async addMembers(principal: Principal, args: OperationArgs<'members.add'>): Promise<OperationResult<'members.add'>> {
    await this.authorized(principal, args.conversationId, 'manage', true);
    const { added, event } = await this.dependencies.log.addMembers(keyOf(principal, args.conversationId), args.userIds, actorOf(principal));
    return { added, seq: event?.seq ?? null };
  }

  /** Removes members; a member may always remove itself (leave). Their subscriptions end at once on every node. */
  async removeMembers(principal: Principal, args: OperationArgs<'members.remove'>): Promise<OperationResult<'members.remove'>> {
    const leaving = principal.kind === 'user' && args.userIds.length === 1 && args.userIds[0] === principal.userId;
    await this.authorized(principal, args.conversationId, leaving ? 'send' : 'manage', true);
    const key = keyOf(principal, args.conversationId);
    const { removed, event } = await this.dependencies.log.removeMembers(key, args.userIds, actorOf(principal));
    if (removed.length > 0) {
      await this.dependencies.bus.publishControl({ type: 'members.removed', tenant: key.tenant, conversationId: key.conversationId, userIds: removed });
    }
    return { removed, seq: event?.seq ?? null };
  }

  async listMembers(principal: Principal, args: OperationArgs<'members.list'>): Promise<OperationResult<'members.list'>> {
    await this.authorized(principal, args.conversationId, 'read', false);
    const after = args.cursor === undefined ? null : decodeMemberCursor(args.cursor);
    const page = await this.dependencies.members.listMembers(keyOf(principal, args.conversationId), after, args.limit);
    const members: MemberView[] = page.items.map(({ userId, joinedAt, lastReadSeq }) => ({ userId, joinedAt, lastReadSeq }));
    return { members, nextCursor: page.next === null ? null : encodeMemberCursor(page.next) };
  }

  async stopGeneration(principal: Principal, args: OperationArgs<'ai.stop'>): Promise<OperationResult<'ai.stop'>> {
    await this.authorized(principal, args.conversationId, 'send', false);
    return { stopped: await this.dependencies.assistants.stop(keyOf(principal, args.conversationId), args.generationId) };
  }

  async approveTool(principal: Principal, args: OperationArgs<'ai.approve'>): Promise<OperationResult<'ai.approve'>> {
    await this.authorized(principal, args.conversationId, 'send', false);
    const decision = await this.dependencies.assistants.resolveApproval(keyOf(principal, args.conversationId), args.approvalId, args.approved, actorOf(principal));
    return { approvalId: args.approvalId, ...decision };
  }

  async inspectContext(principal: Principal, args: OperationArgs<'ai.context'>): Promise<OperationResult<'ai.context'>> {
    await this.authorized(principal, args.conversationId, 'read', false);
    if (principal.kind !== 'user' || !isStaff(principal)) throw new ParleyError('forbidden', 'only agents and admins may inspect generation contexts');
    const context = await this.dependencies.assistants.inspectContext(keyOf(principal, args.conversationId), args.generationId);
    if (!context) throw new ParleyError('not_found', `no context kept for generation ${args.generationId}`);
    return context;
  }

  /** Sends a notice to every connection of `userId`, on every node (server API). */
  async notify(principal: Principal, userId: string, data: Record<string, unknown>): Promise<{ id: string }> {
    requireScope(principal, 'users:write');
    if (principal.kind !== 'service' && !isStaff(principal)) throw new ParleyError('forbidden', 'only agents, admins and API keys notify users');
    const notification = { id: randomUUID(), ts: Date.now(), data };
    await this.dependencies.bus.publishControl({ type: 'user.notify', tenant: principal.tenant, userId, notification });
    return { id: notification.id };
  }

  /** Closes every connection of `userId` on every node; with `reconnect: false` its clients are told not to come back. */
  async disconnectUser(principal: Principal, userId: string, reconnect: boolean): Promise<void> {
    requireScope(principal, 'users:write');
    if (principal.kind !== 'service' && !principal.roles.includes('admin')) throw new ParleyError('forbidden', 'only admins and API keys disconnect users');
    await this.dependencies.bus.publishControl({ type: 'user.disconnect', tenant: principal.tenant, userId, reconnect });
  }

  /** Loads the conversation (`fresh`: from the store; else possibly a few seconds old) and authorizes `action`. */
  private async authorized(principal: Principal, conversationId: string, action: ConversationAction, fresh: boolean): Promise<ConversationRecord> {
    const key = keyOf(principal, conversationId);
    const conversation = fresh ? await this.dependencies.log.get(key) : await this.dependencies.log.getRecent(key);
    return this.authorize(principal, conversation, conversationId, action);
  }

  private authorize(principal: Principal, conversation: ConversationRecord | null, conversationId: string, action: ConversationAction): Promise<ConversationRecord> {
    return authorizeConversation(principal, conversation, conversationId, action, () => this.isMember(conversation!, principal.userId), () => this.dependencies.agentTeams(principal.tenant, principal.userId));
  }

  /** Small rooms carry their members; large ones are asked with one lookup. */
  private isMember(conversation: ConversationRecord, userId: string): Promise<boolean> {
    if (conversation.members) return Promise.resolve(conversation.members.includes(userId));
    return this.dependencies.members.isMember({ tenant: conversation.tenant, conversationId: conversation.id }, userId);
  }

  private isLargeRoom(conversation: ConversationRecord): boolean {
    return conversation.memberCount > this.options.largeRoomMembers;
  }

  /** Whose list `conversation.list` returns: a user's own; a service principal or staff may name another user. */
  private listedUser(principal: Principal, userId: string | undefined): string {
    requireScope(principal, 'conversations:read');
    if (principal.kind === 'service') {
      if (userId === undefined) throw new ParleyError('bad_request', 'name the user whose conversations to list');
      return userId;
    }
    if (userId !== undefined && userId !== principal.userId && !isStaff(principal)) throw new ParleyError('forbidden', "only agents and admins list another user's conversations");
    return userId ?? principal.userId;
  }

  /** The actor a message is recorded under. */
  private senderOf(principal: Principal, as: Sender | undefined): Actor {
    if (principal.kind === 'user') {
      if (as !== undefined) throw new ParleyError('forbidden', 'users send as themselves');
      return actorOf(principal);
    }
    if (as === undefined) throw new ParleyError('bad_request', 'say who sends the message: a user, a bot or the system');
    if (as.kind === 'user') return { kind: 'user', id: as.id };
    if (as.kind === 'bot') return { kind: 'service', id: as.id };
    return { kind: 'system', id: 'system' };
  }
}

/** The modes in which a support conversation takes messages: all but `closed`. */
const OPEN_MODES = ['assistant', 'queued', 'agent', 'resolved'] as const;

/** Who acts: agents and admins as `agent`, other users as `user`, a backend as `service` (its key's id). */
export function actorOf(principal: Principal): Actor {
  if (principal.kind === 'service') return { kind: 'service', id: principal.userId };
  return { kind: isStaff(principal) ? 'agent' : 'user', id: principal.userId };
}

function keyOf(principal: Principal, conversationId: string): ConversationKey {
  return { tenant: principal.tenant, conversationId };
}

/** The wire view of a conversation: members only for small rooms; the staff sequence only for staff. */
export function toView(conversation: ConversationRecord, viewer: Viewer = 'member'): ConversationView {
  const { members, lastEventAt: _lastEventAt, support, ...rest } = conversation;
  const view: ConversationView = members ? { ...rest, members } : rest;
  if (support) view.support = toSupportState(support, viewer);
  return view;
}

/** A support record as the wire shows it to `viewer`. */
export function toSupportState(support: SupportRecord, viewer: Viewer): SupportState {
  const { mode, team, assigneeId, assigneeName, queuedAt, priority, resolution, rated, lastStaffSeq } = support;
  return { mode, team, assigneeId, assigneeName, queuedAt, priority, resolution, rated, ...(viewer === 'staff' ? { lastStaffSeq } : {}) };
}
