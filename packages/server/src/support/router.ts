import type { KnownSignal } from '@parley/protocol';
import { planAssign, planQueued, planRequeue } from '../conversations/modes.js';
import { ParleyError } from '../core/errors.js';
import type { Bus, SupportStore } from '../core/ports.js';
import type { ConversationKey, ConversationRecord } from '../core/types.js';
import type { ConversationLog } from '../log/conversation-log.js';
import { nextOpening } from './business-hours.js';

// Queued conversations looked at per pass and tenant (longest waiting first within priority).
const QUEUE_PAGE = 500;
// How often a customer waiting in the same place hears it again.
const RETELL_MS = 10_000;
// A handoff not queued this long after its last event lost its node on the way.
const STALLED_HANDOFF_MS = 30_000;
// Candidates tried for one conversation before the next one is looked at.
const CANDIDATES_TRIED = 3;

export interface RouterSettings {
  /** An assignment routing made and the agent did not accept (claim or reply) within this is given to someone else. */
  acceptTimeoutMs: number;
  /** An agent counts as offline after this long without a connection on any node. */
  presenceGraceMs: number;
  /** How often every node looks for queued conversations and stale assignments, besides being woken. */
  intervalMs: number;
}

export interface RouterObserver {
  /** A queued conversation went to an agent (an answer the assistant began after hours should stop now). */
  assigned?(waitedMs: number, key: ConversationKey): void;
  requeued?(reason: 'not_accepted' | 'agent_offline'): void;
  queueDepth?(tenant: string, depth: number): void;
  failed?(error: unknown, what: string): void;
}

/**
 * Auto-assignment: each queued conversation (highest priority, then longest waiting, first) goes to an
 * available agent with its team and skills, fewest open conversations first, then least recently assigned.
 * Every node routes; the assignment's transaction (agent row, then conversation row, capacity checked under
 * the lock) makes one winner per conversation and keeps every agent within capacity. Customers in the queue
 * hear their place and the estimated wait (`queue.position`) whenever the queue moves.
 */
export class Router {
  private readonly pending = new Set<string>();
  private running: Promise<void> | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** The last place told to each queued conversation and when: changes go out at once, the same place again after a while (a page reloaded meanwhile learns it). */
  private readonly told = new Map<string, { said: string; at: number }>();

  constructor(
    private readonly store: SupportStore,
    private readonly log: ConversationLog,
    private readonly bus: Pick<Bus, 'publishSignal'>,
    private readonly settings: RouterSettings,
    private readonly observer: RouterObserver = {},
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.settings.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.pending.clear();
    await this.running;
  }

  /** Routes the tenant's queue soon (coalescing wakes that come while a pass runs). */
  wake(tenant: string): void {
    this.pending.add(tenant);
    this.running ??= this.drain().finally(() => (this.running = null));
  }

  /** Takes back stale assignments, then routes every tenant with a queue. */
  async tick(): Promise<void> {
    try {
      const now = Date.now();
      const stale = await this.store.staleAssignments(now - this.settings.acceptTimeoutMs, now - this.settings.presenceGraceMs, 100);
      for (const { key, agentId, reason } of stale) {
        try {
          await this.log.transition(key, [agentId], (current) => planRequeue(current, { agentId, reason, now: Date.now() }));
          this.observer.requeued?.(reason);
        } catch (error) {
          if (!isConflict(error)) throw error;
        }
      }
      // A handoff whose node died before `conversation.queued` (its answer stop is long over by now).
      for (const key of await this.store.stalledHandoffs(now - STALLED_HANDOFF_MS, 100)) {
        await this.log.transition(key, [], (current) => planQueued(current, { reason: 'recovered', now: Date.now() })).catch((error: unknown) => {
          if (!isConflict(error)) throw error;
        });
      }
      for (const tenant of await this.store.queuedTenants()) this.pending.add(tenant);
      if (this.pending.size > 0) this.wake([...this.pending][0]!);
    } catch (error) {
      this.observer.failed?.(error, 'routing tick');
    }
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const tenant = this.pending.values().next().value!;
      this.pending.delete(tenant);
      try {
        await this.route(tenant);
      } catch (error) {
        this.observer.failed?.(error, 'routing');
      }
    }
  }

  /** One pass over a tenant's queue. */
  async route(tenant: string): Promise<void> {
    const connectedSince = Date.now() - this.settings.presenceGraceMs;
    const teams = new Map((await this.store.listTeams(tenant)).map((team) => [team.id, team]));
    const now = Date.now();
    // Teams outside their business hours: when each opens next.
    const closedUntil = new Map<string, number>();
    for (const team of teams.values()) {
      const opening = team.businessHours ? nextOpening(team.businessHours, now) : null;
      if (opening !== null) closedUntil.set(team.id, opening);
    }
    const exhausted = new Set<string | null>();
    const queue = await this.store.listQueue(tenant, QUEUE_PAGE);
    const waiting: ConversationRecord[] = [];
    for (const conversation of queue) {
      const team = conversation.support!.team;
      if (exhausted.has(team) || (team !== null && closedUntil.has(team))) {
        waiting.push(conversation);
        continue;
      }
      const assigned = await this.assign(conversation, team === null ? [] : (teams.get(team)?.skills ?? []), connectedSince);
      if (!assigned) {
        exhausted.add(team);
        waiting.push(conversation);
      }
    }
    this.observer.queueDepth?.(tenant, waiting.length);
    await this.tellPlaces(tenant, waiting, closedUntil);
  }

  private async assign(conversation: ConversationRecord, skills: string[], connectedSince: number): Promise<boolean> {
    const key = { tenant: conversation.tenant, conversationId: conversation.id };
    const candidates = await this.store.availableAgents(conversation.tenant, conversation.support!.team, skills, connectedSince);
    for (const agent of candidates.slice(0, CANDIDATES_TRIED)) {
      try {
        const now = Date.now();
        await this.log.transition(key, [agent.userId], (current) =>
          planAssign(current, {
            actor: { kind: 'system', id: 'routing' },
            agentId: agent.userId,
            agentName: agent.name,
            kind: 'routing',
            now,
            connectedSince,
            routingReason: `available with ${agent.open} of ${agent.capacity} open`,
          }),
        );
        this.told.delete(`${key.tenant}/${key.conversationId}`);
        this.observer.assigned?.(conversation.support!.queuedAt === null ? 0 : now - conversation.support!.queuedAt, key);
        return true;
      } catch (error) {
        // Another node assigned it, or the agent filled up or left meanwhile: the next candidate, or done.
        if (!isConflict(error)) throw error;
        const current = await this.log.get(key);
        if (current?.support?.mode !== 'queued') return true;
      }
    }
    return false;
  }

  /** Publishes each waiting customer's place in their team's queue and the estimated wait, when it changed. */
  private async tellPlaces(tenant: string, waiting: ConversationRecord[], closedTeams: ReadonlyMap<string, number>): Promise<void> {
    const places = new Map<string | null, number>();
    const averages = new Map<string | null, number | null>();
    for (const conversation of waiting) {
      const team = conversation.support!.team;
      const position = (places.get(team) ?? 0) + 1;
      places.set(team, position);
      if (!averages.has(team)) averages.set(team, await this.store.averageWait(tenant, team));
      const average = averages.get(team) ?? null;
      const closedUntil = team === null ? null : (closedTeams.get(team) ?? null);
      const estimatedWaitMs = average === null ? null : Math.round(average * position);
      const name = `${tenant}/${conversation.id}`;
      const said = `${position}:${estimatedWaitMs === null ? '-' : Math.round(estimatedWaitMs / 1000)}:${closedUntil ?? '-'}`;
      const previous = this.told.get(name);
      if (previous?.said === said && Date.now() - previous.at < RETELL_MS) continue;
      this.told.set(name, { said, at: Date.now() });
      if (this.told.size > 100_000) this.told.clear();
      const signal: KnownSignal<'queue.position'> = {
        tenant,
        conversation: conversation.id,
        type: 'queue.position',
        ts: Date.now(),
        actor: { kind: 'system', id: 'routing' },
        data: { position, estimatedWaitMs, team, ...(closedUntil !== null ? { closedUntil } : {}) },
      };
      await this.bus.publishSignal(signal).catch((error: unknown) => this.observer.failed?.(error, 'queue position'));
    }
  }
}

function isConflict(error: unknown): boolean {
  return error instanceof ParleyError && error.code === 'conflict';
}
