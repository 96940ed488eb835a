import type { Actor, ConversationMode, HandoffReason, TransitionOrigin } from '@parley/protocol';
import { ParleyError } from '../core/errors.js';
import type { PlannedEvent, TransitionPlan } from '../core/support-store.js';
import type { ConversationRecord, SupportRecord } from '../core/types.js';

/**
 * The support conversation's state machine, as pure plans: each takes the conversation as it stands under
 * its row lock and returns what changes and which events record it, or throws `conflict`.
 *
 *   assistant ──handoff──▶ queued ──assign/claim──▶ agent ──resolve──▶ resolved ──customer writes──▶ assistant
 *       ▲                    │  ▲                     │                    │
 *       └────hand back───────┴──┼──── transfer to team┘                    └──agent reopens──▶ agent
 *                               └──────────────────────
 *   every mode but closed ──close──▶ closed (final)
 */

function support(current: ConversationRecord): SupportRecord {
  if (!current.support) throw new ParleyError('conflict', `conversation ${current.id} is not a support conversation (it has no assistant)`);
  return current.support;
}

function requireMode(current: ConversationRecord, action: string, allowed: readonly ConversationMode[]): SupportRecord {
  const state = support(current);
  if (!allowed.includes(state.mode)) {
    throw new ParleyError('conflict', `cannot ${action} a conversation that is ${state.mode}`, { details: { mode: state.mode } });
  }
  return state;
}

function requireAssignee(state: SupportRecord, expected: string | null | undefined): void {
  if (expected !== undefined && state.assigneeId !== expected) {
    throw new ParleyError('conflict', `the conversation is assigned to ${state.assigneeId ?? 'nobody'}, not ${expected ?? 'nobody'}`, { details: { assigneeId: state.assigneeId } });
  }
}

const SYSTEM: Actor = { kind: 'system', id: 'system' };

/** The assistant (or the customer, an agent, the backend) asks for a person: the conversation waits for an agent. */
export function planHandoff(current: ConversationRecord, input: { actor: Actor; reason: HandoffReason; origin: TransitionOrigin; detail?: string; team?: string | null; now: number }): TransitionPlan {
  // No re-trigger while queued or with an agent: a handoff loop cannot start.
  const state = requireMode(current, 'hand off', ['assistant', 'resolved']);
  return {
    // Not in the queue yet (queuedAt null): routing waits for `conversation.queued`, after the answer stopped.
    patch: { mode: 'queued', queuedAt: null, handedOff: true, ...(input.team !== undefined ? { team: input.team } : {}), assigneeId: null, assigneeName: null, accepted: false, assignedAt: null, firstResponseAt: null },
    events: [{ type: 'handoff.requested', actor: input.actor, data: { reason: input.reason, origin: input.origin, from: state.mode, ...(input.detail ? { detail: input.detail } : {}) } }],
    intervals: [{ kind: 'handoff', reason: input.reason, ms: 0 }],
  };
}

/** Records that the conversation entered its team's queue (after the assistant's answer was stopped): routing may take it from now. */
export function planQueued(current: ConversationRecord, input: { reason: string; now: number }): TransitionPlan {
  const state = requireMode(current, 'queue', ['queued']);
  if (state.queuedAt !== null) throw new ParleyError('conflict', 'the conversation is in the queue already');
  return {
    patch: { queuedAt: input.now },
    events: [{ type: 'conversation.queued', actor: SYSTEM, data: { team: state.team, priority: state.priority, reason: input.reason } }],
  };
}

/** Gives a queued conversation (or, re-assigning, another agent's) to an agent. */
export function planAssign(
  current: ConversationRecord,
  input: { actor: Actor; agentId: string; agentName: string | null; kind: 'routing' | 'claim' | 'assign'; expectedAgentId?: string | null; now: number; connectedSince?: number; routingReason?: string },
): TransitionPlan {
  const state = requireMode(current, 'assign', input.kind === 'routing' || input.kind === 'claim' ? ['queued'] : ['queued', 'agent']);
  requireAssignee(state, input.expectedAgentId);
  const events: PlannedEvent[] = [
    {
      type: 'conversation.assigned',
      actor: input.actor,
      data: { agentId: input.agentId, agentName: input.agentName, team: state.team, kind: input.kind, ...(state.assigneeId && state.assigneeId !== input.agentId ? { previousAgentId: state.assigneeId } : {}) },
    },
  ];
  if (input.kind === 'routing') {
    events.push({ type: 'routing.decided', actor: SYSTEM, data: { agentId: input.agentId, team: state.team, reason: input.routingReason ?? 'available', waitingMs: waited(state, input.now) } });
  }
  return {
    patch: { mode: 'agent', assigneeId: input.agentId, assigneeName: input.agentName, accepted: input.kind !== 'routing', assignedAt: input.now, firstResponseAt: null },
    events,
    intervals: state.mode === 'queued' ? [{ kind: 'queue_wait', agent: input.agentId, team: state.team, ms: waited(state, input.now) }] : [],
    ...(input.kind === 'routing' ? { capacityOf: { agentId: input.agentId, connectedSince: input.connectedSince ?? 0 } } : {}),
    addMember: input.agentId,
  };
}

/** The assignee accepts what routing gave them (claiming it, or answering in it); nothing to record otherwise. */
export function planAccept(current: ConversationRecord, input: { agentId: string; now: number; responded: boolean }): TransitionPlan | null {
  const state = support(current);
  if (state.mode !== 'agent' || state.assigneeId !== input.agentId) return null;
  const firstResponse = input.responded && state.firstResponseAt === null;
  if (state.accepted && !firstResponse) return null;
  return {
    patch: { accepted: true, ...(firstResponse ? { firstResponseAt: input.now } : {}) },
    events: [],
    intervals: firstResponse && state.assignedAt !== null ? [{ kind: 'first_response', agent: input.agentId, team: state.team, ms: input.now - state.assignedAt }] : [],
  };
}

/** Moves the conversation to another agent, or back into a team's queue. */
export function planTransfer(
  current: ConversationRecord,
  input: { actor: Actor; toAgent?: { id: string; name: string | null }; toTeam?: string; expectedAgentId?: string | null; reason?: string; now: number },
): TransitionPlan {
  const state = requireMode(current, 'transfer', ['queued', 'agent']);
  requireAssignee(state, input.expectedAgentId);
  const transferred: PlannedEvent = {
    type: 'conversation.transferred',
    actor: input.actor,
    data: { fromAgentId: state.assigneeId, toAgentId: input.toAgent?.id ?? null, toTeam: input.toTeam ?? null, ...(input.reason ? { reason: input.reason } : {}) },
  };
  if (input.toAgent) {
    return {
      patch: { mode: 'agent', assigneeId: input.toAgent.id, assigneeName: input.toAgent.name, accepted: false, assignedAt: input.now, firstResponseAt: null },
      events: [
        transferred,
        { type: 'conversation.assigned', actor: input.actor, data: { agentId: input.toAgent.id, agentName: input.toAgent.name, team: state.team, kind: 'assign', ...(state.assigneeId ? { previousAgentId: state.assigneeId } : {}) } },
      ],
      addMember: input.toAgent.id,
    };
  }
  return {
    patch: { mode: 'queued', team: input.toTeam!, assigneeId: null, assigneeName: null, accepted: false, assignedAt: null, queuedAt: input.now },
    events: [transferred, { type: 'conversation.queued', actor: SYSTEM, data: { team: input.toTeam!, priority: state.priority, reason: 'transfer' } }],
  };
}

/** Routing takes back an assignment its agent did not accept in time, or whose agent went offline. */
export function planRequeue(current: ConversationRecord, input: { agentId: string; reason: 'not_accepted' | 'agent_offline'; now: number }): TransitionPlan {
  const state = requireMode(current, 're-route', ['agent']);
  if (state.assigneeId !== input.agentId || state.accepted) throw new ParleyError('conflict', 'the assignment changed meanwhile');
  return {
    patch: { mode: 'queued', assigneeId: null, assigneeName: null, accepted: false, assignedAt: null },
    events: [
      { type: 'conversation.transferred', actor: SYSTEM, data: { fromAgentId: input.agentId, toAgentId: null, toTeam: state.team, reason: input.reason } },
      { type: 'conversation.queued', actor: SYSTEM, data: { team: state.team, priority: state.priority, reason: input.reason } },
    ],
  };
}

export function planResolve(current: ConversationRecord, input: { actor: Actor; now: number }): TransitionPlan {
  const state = requireMode(current, 'resolve', ['queued', 'agent', 'assistant']);
  const resolution = state.resolution + 1;
  return {
    patch: { mode: 'resolved', resolution, rated: false, accepted: false },
    events: [{ type: 'conversation.resolved', actor: input.actor, data: { resolution, agentId: state.assigneeId } }],
    intervals: state.queuedAt !== null && state.mode !== 'assistant' ? [{ kind: 'resolution', agent: state.assigneeId, team: state.team, ms: input.now - state.queuedAt }] : [],
  };
}

/** A resolved conversation comes back: to the assistant when the customer writes, to the agent who reopens it. */
export function planReopen(current: ConversationRecord, input: { actor: Actor; by: 'customer' | 'agent' | 'api'; agent?: { id: string; name: string | null }; now: number }): TransitionPlan {
  requireMode(current, 'reopen', ['resolved']);
  if (input.agent) {
    return {
      patch: { mode: 'agent', assigneeId: input.agent.id, assigneeName: input.agent.name, accepted: true, assignedAt: input.now, firstResponseAt: null },
      events: [{ type: 'conversation.reopened', actor: input.actor, data: { mode: 'agent', by: input.by } }],
      addMember: input.agent.id,
    };
  }
  return {
    patch: { mode: 'assistant', assigneeId: null, assigneeName: null, accepted: false, assignedAt: null, queuedAt: null },
    events: [{ type: 'conversation.reopened', actor: input.actor, data: { mode: 'assistant', by: input.by } }],
  };
}

export function planHandBack(current: ConversationRecord, input: { actor: Actor }): TransitionPlan {
  const state = requireMode(current, 'hand back', ['queued', 'agent']);
  return {
    patch: { mode: 'assistant', assigneeId: null, assigneeName: null, accepted: false, assignedAt: null, queuedAt: null },
    events: [{ type: 'conversation.handed_back', actor: input.actor, data: { agentId: state.assigneeId } }],
  };
}

export function planClose(current: ConversationRecord, input: { actor: Actor }): TransitionPlan {
  requireMode(current, 'close', ['assistant', 'queued', 'agent', 'resolved']);
  return { patch: { mode: 'closed', accepted: false }, events: [{ type: 'conversation.closed', actor: input.actor, data: {} }] };
}

/** The customer rates the latest resolution, once. */
export function planRate(current: ConversationRecord, input: { actor: Actor; rating: number; comment?: string }): TransitionPlan {
  const state = support(current);
  if (state.resolution === 0) throw new ParleyError('conflict', 'nothing to rate: the conversation was never resolved');
  if (state.rated) throw new ParleyError('conflict', `resolution ${state.resolution} is already rated`);
  const agentId = state.assigneeId;
  return {
    patch: { rated: true },
    events: [{ type: 'csat.submitted', actor: input.actor, data: { resolution: state.resolution, rating: input.rating, agentId, ...(input.comment ? { comment: input.comment } : {}) } }],
    rating: { resolution: state.resolution, rating: input.rating, comment: input.comment ?? null, agentId, team: state.team },
  };
}

function waited(state: SupportRecord, now: number): number {
  return state.queuedAt === null ? 0 : Math.max(0, now - state.queuedAt);
}
