import type { ParleyEvent, SupportState } from '@parley/client';

/**
 * Where a support conversation stands after one of its durable events: the console keeps the state it got
 * from the server (`conversation.get`, operation results) current from the events that follow, so that the
 * header and the actions follow what other agents, routing and the customer do.
 */
export function applySupportEvent(state: SupportState, event: ParleyEvent): SupportState {
  switch (event.type) {
    case 'conversation.queued':
      return { ...state, mode: 'queued', team: event.data.team, assigneeId: null, assigneeName: null, queuedAt: event.ts, priority: event.data.priority };
    case 'conversation.assigned':
      return { ...state, mode: 'agent', team: event.data.team, assigneeId: event.data.agentId, assigneeName: event.data.agentName, queuedAt: null };
    case 'conversation.resolved':
      return { ...state, mode: 'resolved', resolution: event.data.resolution, rated: false, queuedAt: null };
    case 'conversation.reopened':
      return event.data.mode === 'assistant' ? { ...state, mode: 'assistant', assigneeId: null, assigneeName: null } : { ...state, mode: 'agent' };
    case 'conversation.handed_back':
      return { ...state, mode: 'assistant', assigneeId: null, assigneeName: null, queuedAt: null };
    case 'conversation.closed':
      return { ...state, mode: 'closed', queuedAt: null };
    case 'csat.submitted':
      return event.data.resolution === state.resolution ? { ...state, rated: true } : state;
    default:
      return state;
  }
}

/**
 * How this agent can take a conversation: claim it from the queue, take it over from the assistant (hand off,
 * then claim) or from another agent (assign to self, guarded by the current assignee); null: nothing to take.
 */
export type TakeAction = 'claim' | 'takeOverFromAssistant' | 'takeOverFromAgent' | null;

/** The actions an agent can take in a mode (the server has the last word: a stale view gets `conflict`). */
export interface SupportActions {
  take: TakeAction;
  transfer: boolean;
  resolve: boolean;
  reopen: boolean;
  handBack: boolean;
  reply: boolean;
}

/** What the console offers `agentId` for a conversation in `state`, following the server's state machine. */
export function supportActions(state: SupportState | undefined, agentId: string): SupportActions {
  const mode = state?.mode;
  const mine = state?.assigneeId === agentId;
  const take: TakeAction = mode === 'queued' ? 'claim' : mode === 'assistant' ? 'takeOverFromAssistant' : mode === 'agent' && !mine ? 'takeOverFromAgent' : null;
  return {
    take,
    transfer: mode === 'queued' || mode === 'agent',
    resolve: mode === 'queued' || mode === 'agent' || mode === 'assistant',
    reopen: mode === 'resolved',
    handBack: mode === 'queued' || mode === 'agent',
    reply: mode !== undefined && mode !== 'closed',
  };
}

/** How the console names a mode. */
export const MODE_LABELS: Record<SupportState['mode'], string> = {
  assistant: 'Assistant',
  queued: 'Queued',
  agent: 'With an agent',
  resolved: 'Resolved',
  closed: 'Closed',
};
