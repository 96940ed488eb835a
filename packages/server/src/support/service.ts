import type { Actor, Agent, CannedReply, HandoffReason, KnownSignal, OperationArgs, OperationResult, SupportReport, Team, TransitionOrigin } from '@parley/protocol';
import { authorizeConversation, isStaff, requireScope, type ConversationAction } from '../auth/authorization.js';
import { planAccept, planAssign, planClose, planHandBack, planHandoff, planQueued, planRate, planReopen, planResolve, planTransfer } from '../conversations/modes.js';
import { actorOf, toSupportState } from '../conversations/service.js';
import { ParleyError } from '../core/errors.js';
import type { AgentRecord, Assistants, Bus, CannedReplyRecord, MemberStore, SupportDesk, SupportStore, TransitionPlan } from '../core/ports.js';
import type { ConversationKey, ConversationRecord, Principal } from '../core/types.js';
import { nextOpening } from './business-hours.js';
import type { ConversationLog } from '../log/conversation-log.js';
import { decodeActivityCursor, encodeActivityCursor } from '../conversations/cursors.js';

// How long a handoff waits for the assistant's running answer to end before queueing anyway.
const STOP_WAIT_MS = 5_000;
const STOP_POLL_MS = 25;
// Agents' teams are read at most this often per agent (authorization of every operation asks).
const AGENT_TEAMS_TTL_MS = 5_000;

/** Writes the summary an agent reads at a handoff (the assistant's model, through the AI module). */
export interface HandoffSummarizer {
  summarize(key: ConversationKey, profileId: string): Promise<{ text: string; model: string }>;
}

/** Observers of the desk (metrics, logs). */
export interface SupportObserver {
  handoff?(reason: HandoffReason): void;
  assigned?(kind: 'routing' | 'claim' | 'assign', waitedMs: number): void;
  rated?(rating: number): void;
  failed?(error: unknown, what: string): void;
}

export interface SupportServiceDependencies {
  log: ConversationLog;
  store: SupportStore;
  members: MemberStore;
  assistants: Assistants;
  bus: Pick<Bus, 'publishSignal'>;
  summarizer: HandoffSummarizer | null;
  observer: SupportObserver;
  /** Something changed that routing should look at (a conversation queued, an agent free or online). */
  wakeRouting(tenant: string): void;
}

/**
 * The support desk's use cases: handoff, assignment, notes, resolution, ratings, inboxes, and the desk's
 * administration (teams, agents, canned replies, the report). Every mode change goes through the state
 * machine of conversations/modes.ts, in one transaction with its events.
 */
export class SupportService implements SupportDesk {
  private readonly teamsCache = new Map<string, { teams: readonly string[]; readAt: number }>();

  constructor(private readonly dependencies: SupportServiceDependencies) {}

  /** The teams an agent serves, as read at most a few seconds ago. */
  async agentTeams(tenant: string, userId: string): Promise<readonly string[]> {
    const name = `${tenant}/${userId}`;
    const cached = this.teamsCache.get(name);
    if (cached && performance.now() - cached.readAt < AGENT_TEAMS_TTL_MS) return cached.teams;
    const teams = (await this.dependencies.store.getAgent(tenant, userId))?.teams ?? [];
    if (this.teamsCache.size > 10_000) this.teamsCache.clear();
    this.teamsCache.set(name, { teams, readAt: performance.now() });
    return teams;
  }

  /**
   * When the team a queued conversation waits for opens, while it is outside its business hours (the
   * assistant keeps answering meanwhile); null when it is open, has no hours, or the conversation is not queued.
   */
  async closedUntil(conversation: ConversationRecord): Promise<number | null> {
    const team = conversation.support?.mode === 'queued' ? conversation.support.team : null;
    if (team === null) return null;
    const hours = (await this.dependencies.store.getTeam(conversation.tenant, team))?.businessHours;
    return hours ? nextOpening(hours, Date.now()) : null;
  }

  /** Someone asks for a person: the customer (`user`), an agent (`agent`) or the backend (`api`). */
  async handoff(principal: Principal, args: OperationArgs<'support.handoff'>): Promise<OperationResult<'support.handoff'>> {
    const conversation = await this.authorized(principal, args.conversationId, 'send');
    const reason: HandoffReason = principal.kind === 'service' ? 'api' : isStaff(principal) ? 'agent' : 'user';
    const origin: TransitionOrigin = principal.kind === 'service' ? 'api' : 'client';
    const { seq, conversation: after } = await this.requestHandoff(keyOf(conversation), { actor: actorOf(principal), reason, origin, ...(args.detail ? { detail: args.detail } : {}) });
    return { seq, support: toSupportState(after.support!, 'staff') };
  }

  /**
   * Hands a conversation to people: `handoff.requested` (from now on no answer starts), then the running
   * answer is stopped (`ai.stopped`, reason `handoff`), then `conversation.queued`, then routing and the summary.
   */
  async requestHandoff(key: ConversationKey, input: { actor: Actor; reason: HandoffReason; origin: TransitionOrigin; detail?: string }): Promise<{ seq: number; conversation: ConversationRecord }> {
    const requested = await this.dependencies.log.transition(key, [], (current) => {
      const team = current.assistant ? this.dependencies.assistants.handoffSettings(current.assistant)?.team : undefined;
      return planHandoff(current, { ...input, now: Date.now(), ...(team !== undefined && current.support?.team === null ? { team } : {}) });
    });
    this.dependencies.observer.handoff?.(input.reason);
    await this.stopAnswers(key);
    const queued = await this.dependencies.log.transition(key, [], (current) => planQueued(current, { reason: input.reason, now: Date.now() }));
    this.dependencies.wakeRouting(key.tenant);
    const profileId = queued.conversation.assistant;
    if (this.dependencies.summarizer && profileId) void this.summarize(key, profileId, input.reason);
    return { seq: requested.events[0]!.seq, conversation: queued.conversation };
  }

  /** Stops the assistant's running answers and waits (bounded) until each has its terminal event. */
  private async stopAnswers(key: ConversationKey): Promise<void> {
    const { assistants } = this.dependencies;
    let running = await assistants.stop(key, undefined, 'handoff');
    const deadline = Date.now() + STOP_WAIT_MS;
    while (running.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, STOP_POLL_MS));
      running = (await assistants.snapshots(key)).map((text) => text.generationId);
    }
  }

  /**
   * An agent took a conversation that was queued: an answer the assistant began after hours (the team was
   * closed) stops now, so that the agent does not talk over it. None begins any more (`ai.started` needs `queued`).
   */
  private stopAfterHoursAnswers(before: ConversationRecord): void {
    if (before.support?.mode !== 'queued') return;
    this.dependencies.assistants.stop(keyOf(before), undefined, 'handoff').catch((error: unknown) => this.dependencies.observer.failed?.(error, 'stopping answers'));
  }

  private async summarize(key: ConversationKey, profileId: string, reason: HandoffReason): Promise<void> {
    try {
      const summary = await this.dependencies.summarizer!.summarize(key, profileId);
      await this.dependencies.log.appendStaff(key, { type: 'support.summary', actor: { kind: 'assistant', id: profileId }, data: { text: summary.text, reason, model: summary.model } });
    } catch (error) {
      this.dependencies.observer.failed?.(error, 'summary');
    }
  }

  /** An agent takes a queued conversation, or accepts the one routing gave them. */
  async claim(principal: Principal, args: OperationArgs<'support.claim'>): Promise<OperationResult<'support.claim'>> {
    const agent = this.requireAgent(principal);
    const conversation = await this.authorized(principal, args.conversationId, 'send');
    const now = Date.now();
    if (conversation.support?.mode === 'agent' && conversation.support.assigneeId === agent.id) {
      const { conversation: after } = await this.dependencies.log.transition(keyOf(conversation), [], (current) => planAccept(current, { agentId: agent.id, now, responded: false }) ?? { patch: {}, events: [] });
      return { seq: null, support: toSupportState(after.support!, 'staff') };
    }
    await this.registerAgent(principal);
    const result = await this.dependencies.log.transition(keyOf(conversation), [agent.id], (current) => planAssign(current, { actor: actorOf(principal), agentId: agent.id, agentName: agent.name, kind: 'claim', now }));
    this.dependencies.observer.assigned?.('claim', waitedOf(conversation, now));
    this.stopAfterHoursAnswers(conversation);
    return { seq: result.events[0]!.seq, support: toSupportState(result.conversation.support!, 'staff') };
  }

  async assign(principal: Principal, args: OperationArgs<'support.assign'>): Promise<OperationResult<'support.assign'>> {
    this.requireDesk(principal, 'support:write');
    const conversation = await this.authorized(principal, args.conversationId, 'manage');
    const target = await this.agentNamed(principal.tenant, args.agentId);
    const now = Date.now();
    const result = await this.dependencies.log.transition(keyOf(conversation), [args.agentId], (current) =>
      planAssign(current, { actor: actorOf(principal), agentId: args.agentId, agentName: target.name, kind: 'assign', now, ...(args.expectedAgentId !== undefined ? { expectedAgentId: args.expectedAgentId } : {}) }),
    );
    this.dependencies.observer.assigned?.('assign', waitedOf(conversation, now));
    this.stopAfterHoursAnswers(conversation);
    return { seq: result.events[0]!.seq, support: toSupportState(result.conversation.support!, 'staff') };
  }

  async transfer(principal: Principal, args: OperationArgs<'support.transfer'>): Promise<OperationResult<'support.transfer'>> {
    this.requireDesk(principal, 'support:write');
    const conversation = await this.authorized(principal, args.conversationId, 'send');
    let toAgent: { id: string; name: string | null } | undefined;
    if (args.toAgentId !== undefined) toAgent = { id: args.toAgentId, name: (await this.agentNamed(principal.tenant, args.toAgentId)).name };
    if (args.toTeam !== undefined && !(await this.dependencies.store.getTeam(principal.tenant, args.toTeam))) throw new ParleyError('not_found', `no team ${args.toTeam}`);
    const result = await this.dependencies.log.transition(keyOf(conversation), toAgent ? [toAgent.id] : [], (current) =>
      planTransfer(current, {
        actor: actorOf(principal),
        now: Date.now(),
        ...(toAgent ? { toAgent } : { toTeam: args.toTeam! }),
        ...(args.expectedAgentId !== undefined ? { expectedAgentId: args.expectedAgentId } : {}),
        ...(args.reason ? { reason: args.reason } : {}),
      }),
    );
    this.dependencies.wakeRouting(principal.tenant);
    return { seq: result.events[0]!.seq, support: toSupportState(result.conversation.support!, 'staff') };
  }

  async note(principal: Principal, args: OperationArgs<'support.note'>): Promise<OperationResult<'support.note'>> {
    this.requireDesk(principal, 'support:write');
    const conversation = await this.authorized(principal, args.conversationId, 'send');
    if (!conversation.support) throw new ParleyError('conflict', `conversation ${args.conversationId} is not a support conversation`);
    const { event, duplicate } = await this.dependencies.log.appendStaff(keyOf(conversation), { type: 'note.created', actor: actorOf(principal), data: { text: args.text }, causation: { clientMsgId: args.clientMsgId } });
    return { eventId: event.id, staffSeq: event.staffSeq, duplicate };
  }

  async resolve(principal: Principal, args: OperationArgs<'support.resolve'>): Promise<OperationResult<'support.resolve'>> {
    return this.change(principal, args.conversationId, (current) => planResolve(current, { actor: actorOf(principal), now: Date.now() }));
  }

  async reopen(principal: Principal, args: OperationArgs<'support.reopen'>): Promise<OperationResult<'support.reopen'>> {
    this.requireDesk(principal, 'support:write');
    const agent = principal.kind === 'user' ? { id: principal.userId, name: principal.name ?? null } : undefined;
    if (agent) await this.registerAgent(principal);
    return this.change(principal, args.conversationId, (current) => planReopen(current, { actor: actorOf(principal), by: agent ? 'agent' : 'api', ...(agent ? { agent } : {}), now: Date.now() }), agent ? [agent.id] : []);
  }

  async handBack(principal: Principal, args: OperationArgs<'support.handBack'>): Promise<OperationResult<'support.handBack'>> {
    return this.change(principal, args.conversationId, (current) => planHandBack(current, { actor: actorOf(principal) }));
  }

  async close(principal: Principal, args: OperationArgs<'support.close'>): Promise<OperationResult<'support.close'>> {
    return this.change(principal, args.conversationId, (current) => planClose(current, { actor: actorOf(principal) }));
  }

  /** The customer rates the latest resolution: only a member who is not staff, once per resolution. */
  async rate(principal: Principal, args: OperationArgs<'support.rate'>): Promise<OperationResult<'support.rate'>> {
    if (principal.kind !== 'user' || isStaff(principal)) throw new ParleyError('forbidden', 'only the customer rates a conversation');
    const conversation = await this.authorized(principal, args.conversationId, 'send');
    const result = await this.dependencies.log.transition(keyOf(conversation), [], (current) => planRate(current, { actor: actorOf(principal), rating: args.rating, ...(args.comment ? { comment: args.comment } : {}) }));
    this.dependencies.observer.rated?.(args.rating);
    return { seq: result.events[0]!.seq };
  }

  async staffHistory(principal: Principal, args: OperationArgs<'support.staffHistory'>): Promise<OperationResult<'support.staffHistory'>> {
    this.requireDesk(principal, 'support:read');
    const conversation = await this.authorized(principal, args.conversationId, 'read');
    const events = await this.dependencies.log.readStaffAfter(keyOf(conversation), args.after, args.limit + 1);
    return { events: events.slice(0, args.limit), hasMore: events.length > args.limit };
  }

  /** Authorizes staff events for a live subscription: staff who reach the conversation. */
  async authorizeStaffEvents(principal: Principal, conversationId: string): Promise<number> {
    this.requireDesk(principal, 'support:read');
    const conversation = await this.authorized(principal, conversationId, 'read');
    return conversation.support?.lastStaffSeq ?? 0;
  }

  async inbox(principal: Principal, args: OperationArgs<'support.inbox'>): Promise<OperationResult<'support.inbox'>> {
    const agent = this.requireAgent(principal);
    const teams = principal.roles.includes('admin') ? null : [...(await this.agentTeams(principal.tenant, agent.id))];
    const page = await this.dependencies.store.inbox({
      tenant: principal.tenant,
      view: args.view,
      agentId: agent.id,
      teams,
      ...(args.team ? { team: args.team } : {}),
      after: args.cursor === undefined ? null : decodeActivityCursor(args.cursor),
      limit: args.limit,
    });
    const items = page.items.map(({ conversation, lastReadSeq }) => ({
        conversationId: conversation.id,
        support: toSupportState(conversation.support!, 'staff'),
        customerId: conversation.createdBy,
        metadata: conversation.metadata,
        lastSeq: conversation.lastSeq,
        lastEventAt: conversation.lastEventAt,
        lastReadSeq,
        sentiment: conversation.support!.sentiment,
      }));
    return { items, nextCursor: page.next ? encodeActivityCursor(page.next) : null, counts: page.counts };
  }

  /** Canned replies of the tenant and the caller's teams; with a conversation, their variables filled in. */
  async canned(principal: Principal, args: OperationArgs<'support.canned'>): Promise<OperationResult<'support.canned'>> {
    this.requireDesk(principal, 'support:read');
    const teams = principal.kind === 'service' || principal.roles.includes('admin') ? null : [...(await this.agentTeams(principal.tenant, principal.userId))];
    const replies = await this.dependencies.store.listCanned(principal.tenant, teams);
    const conversation = args.conversationId === undefined ? null : await this.authorized(principal, args.conversationId, 'read');
    const variables = {
      'customer.name': String(conversation?.metadata.customerName ?? conversation?.createdBy ?? ''),
      'customer.id': conversation?.createdBy ?? '',
      'agent.name': principal.name ?? principal.userId,
    };
    return {
      replies: replies.map((reply) => ({ ...toCanned(reply), rendered: renderTemplate(reply.text, variables, conversation?.metadata ?? {}) })),
    };
  }

  /** An agent's status; their name and picture come from their token. */
  async setStatus(principal: Principal, args: OperationArgs<'agent.status'>): Promise<OperationResult<'agent.status'>> {
    this.requireAgent(principal);
    const record = await this.dependencies.store.setAgentStatus(principal.tenant, principal.userId, args.status, { name: principal.name ?? null, picture: principal.picture ?? null }, Date.now());
    if (args.status === 'online') this.dependencies.wakeRouting(principal.tenant);
    return { agent: this.agentView(record) };
  }

  async viewing(principal: Principal, args: OperationArgs<'agent.viewing'>): Promise<OperationResult<'agent.viewing'>> {
    this.requireAgent(principal);
    const conversation = await this.authorized(principal, args.conversationId, 'read');
    const signal: KnownSignal<'agent.viewing'> = {
      tenant: conversation.tenant,
      conversation: conversation.id,
      type: 'agent.viewing',
      ts: Date.now(),
      actor: actorOf(principal),
      data: { active: args.active, name: principal.name ?? null },
    };
    await this.dependencies.bus.publishSignal(signal);
    return {};
  }

  // Administration (admins, or API keys with the support scopes).

  async listTeams(principal: Principal): Promise<Team[]> {
    this.requireDesk(principal, 'support:read');
    return (await this.dependencies.store.listTeams(principal.tenant)).map(({ id, name, skills, businessHours }) => ({ id, name, skills, businessHours }));
  }

  async putTeam(principal: Principal, team: Team): Promise<Team> {
    this.requireAdmin(principal);
    await this.dependencies.store.putTeam({ tenant: principal.tenant, ...team });
    return team;
  }

  async deleteTeam(principal: Principal, id: string): Promise<void> {
    this.requireAdmin(principal);
    if (!(await this.dependencies.store.deleteTeam(principal.tenant, id))) throw new ParleyError('not_found', `no team ${id}`);
  }

  async listAgents(principal: Principal): Promise<Agent[]> {
    this.requireDesk(principal, 'support:read');
    return (await this.dependencies.store.listAgents(principal.tenant)).map((record) => this.agentView(record));
  }

  async putAgent(principal: Principal, userId: string, settings: { name?: string | null; teams: string[]; skills: string[]; capacity: number }): Promise<Agent> {
    this.requireAdmin(principal);
    for (const team of settings.teams) {
      if (!(await this.dependencies.store.getTeam(principal.tenant, team))) throw new ParleyError('bad_request', `no team ${team}: create it first`);
    }
    const record = await this.dependencies.store.putAgent(principal.tenant, userId, settings);
    this.teamsCache.delete(`${principal.tenant}/${userId}`);
    this.dependencies.wakeRouting(principal.tenant);
    return this.agentView(record);
  }

  async deleteAgent(principal: Principal, userId: string): Promise<void> {
    this.requireAdmin(principal);
    if (!(await this.dependencies.store.deleteAgent(principal.tenant, userId))) throw new ParleyError('not_found', `no agent ${userId}`);
    this.teamsCache.delete(`${principal.tenant}/${userId}`);
  }

  async listCanned(principal: Principal): Promise<CannedReply[]> {
    this.requireDesk(principal, 'support:read');
    return (await this.dependencies.store.listCanned(principal.tenant, null)).map(toCanned);
  }

  async putCanned(principal: Principal, reply: CannedReply): Promise<CannedReply> {
    this.requireAdmin(principal);
    if (reply.team !== null && !(await this.dependencies.store.getTeam(principal.tenant, reply.team))) throw new ParleyError('bad_request', `no team ${reply.team}`);
    await this.dependencies.store.putCanned({ tenant: principal.tenant, ...reply });
    return reply;
  }

  async deleteCanned(principal: Principal, id: string): Promise<void> {
    this.requireAdmin(principal);
    if (!(await this.dependencies.store.deleteCanned(principal.tenant, id))) throw new ParleyError('not_found', `no canned reply ${id}`);
  }

  async report(principal: Principal, range: { from?: number; to?: number }): Promise<SupportReport> {
    this.requireDesk(principal, 'support:read');
    if (principal.kind === 'user' && !principal.roles.includes('admin')) throw new ParleyError('forbidden', 'only admins read the support report');
    const to = range.to ?? Date.now();
    const from = range.from ?? to - 7 * 24 * 3600_000;
    if (from >= to) throw new ParleyError('bad_request', '`from` must be before `to`');
    return this.dependencies.store.report(principal.tenant, from, to);
  }

  private async change(principal: Principal, conversationId: string, plan: (current: ConversationRecord) => TransitionPlan, agentIds: string[] = []) {
    this.requireDesk(principal, 'support:write');
    const conversation = await this.authorized(principal, conversationId, 'send');
    const result = await this.dependencies.log.transition(keyOf(conversation), agentIds, plan);
    this.dependencies.wakeRouting(principal.tenant);
    return { seq: result.events[0]!.seq, support: toSupportState(result.conversation.support!, 'staff') };
  }

  private agentView(record: AgentRecord): Agent {
    const { userId, name, picture, teams, skills, capacity, status, open, lastSeenAt } = record;
    return { userId, name, picture, teams, skills, capacity, status, open, connected: status !== 'offline' && Date.now() - lastSeenAt < 60_000 };
  }

  private async agentNamed(tenant: string, agentId: string): Promise<AgentRecord> {
    const agent = await this.dependencies.store.getAgent(tenant, agentId);
    if (!agent) throw new ParleyError('not_found', `no agent ${agentId} (agents register by setting their status, or an admin adds them)`);
    return agent;
  }

  /** An agent claiming or reopening is registered with default settings if an admin has not added them. */
  private async registerAgent(principal: Principal): Promise<void> {
    if (await this.dependencies.store.getAgent(principal.tenant, principal.userId)) return;
    await this.dependencies.store.setAgentStatus(principal.tenant, principal.userId, 'online', { name: principal.name ?? null, picture: principal.picture ?? null }, Date.now());
  }

  /** A person of the desk (agent or admin); not an API key. */
  private requireAgent(principal: Principal): { id: string; name: string | null } {
    if (principal.kind !== 'user' || !isStaff(principal)) throw new ParleyError('forbidden', 'only agents and admins work the support desk');
    return { id: principal.userId, name: principal.name ?? null };
  }

  /** Agents and admins, or API keys with `scope`. */
  private requireDesk(principal: Principal, scope: 'support:read' | 'support:write'): void {
    if (principal.kind === 'service') return requireScope(principal, scope);
    if (!isStaff(principal)) throw new ParleyError('forbidden', 'only agents and admins may do this');
  }

  private requireAdmin(principal: Principal): void {
    if (principal.kind === 'service') return requireScope(principal, 'support:write');
    if (!principal.roles.includes('admin')) throw new ParleyError('forbidden', 'only admins manage the support desk');
  }

  private async authorized(principal: Principal, conversationId: string, action: ConversationAction): Promise<ConversationRecord> {
    const conversation = await this.dependencies.log.get({ tenant: principal.tenant, conversationId });
    return authorizeConversation(
      principal,
      conversation,
      conversationId,
      action,
      () => this.dependencies.members.isMember({ tenant: principal.tenant, conversationId }, principal.userId),
      () => this.agentTeams(principal.tenant, principal.userId),
    );
  }
}

function keyOf(conversation: ConversationRecord): ConversationKey {
  return { tenant: conversation.tenant, conversationId: conversation.id };
}

function waitedOf(conversation: ConversationRecord, now: number): number {
  return conversation.support?.queuedAt ? now - conversation.support.queuedAt : 0;
}

function toCanned(reply: CannedReplyRecord): CannedReply {
  return { id: reply.id, team: reply.team, shortcut: reply.shortcut, text: reply.text };
}

/** Fills `{{name}}` placeholders: the given variables, then `conversation.<key>` from metadata; unknown ones become empty. */
export function renderTemplate(text: string, variables: Record<string, string>, metadata: Record<string, unknown>): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (_whole, name: string) => {
    if (Object.hasOwn(variables, name)) return variables[name]!;
    if (name.startsWith('conversation.')) {
      const value = metadata[name.slice('conversation.'.length)];
      return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
    }
    return '';
  });
}
