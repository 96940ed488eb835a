import type { KnownEvent, ParleyEvent, SignalData, SupportState } from '@parley/client';

/**
 * What the customer's page says about the support desk: where the conversation stands (the same reducer as
 * the agent console's), a line in the conversation for each hand-over, and the queue and typing lines.
 * Pure functions of events and signals; chat.ts keeps the state.
 */

/** A support conversation before any support event: the assistant answers. */
export const ASSISTANT_ANSWERS: SupportState = { mode: 'assistant', team: null, assigneeId: null, assigneeName: null, queuedAt: null, priority: 0, resolution: 0, rated: false };

/** The customer's place in the queue (the `queue.position` signal). */
export type QueuePosition = SignalData<'queue.position'>;

/** A line in the conversation about a hand-over; `testId` names the kinds other tests look for. */
export interface SupportNote {
  text: string;
  testId: 'handoff-requested' | 'agent-joined' | 'conversation-transferred' | 'conversation-resolved' | 'conversation-reopened' | 'handed-back' | 'conversation-closed' | 'rating-sent';
}

const SUPPORT_EVENTS = new Set(['handoff.requested', 'conversation.queued', 'conversation.assigned', 'conversation.transferred', 'conversation.resolved', 'conversation.reopened', 'conversation.handed_back', 'conversation.closed', 'csat.submitted']);

/** Whether `event` is one of the support desk's (members see these). */
export function isSupportEvent(event: ParleyEvent): event is KnownEvent<'handoff.requested' | 'conversation.queued' | 'conversation.assigned' | 'conversation.transferred' | 'conversation.resolved' | 'conversation.reopened' | 'conversation.handed_back' | 'conversation.closed' | 'csat.submitted'> {
  return SUPPORT_EVENTS.has(event.type);
}

/** The line the conversation shows for a support event, given the state before it; none for a queue entry (the queue line says it). */
export function supportNote(event: ParleyEvent, before: SupportState, ownUserId: string): SupportNote | undefined {
  switch (event.type) {
    case 'handoff.requested':
      return { text: event.data.reason === 'user' && event.actor.id === ownUserId ? 'You asked to talk to a person.' : 'The assistant is handing you over to a person.', testId: 'handoff-requested' };
    case 'conversation.assigned':
      return { text: `${agentLabel(event.data.agentName)} joined`, testId: 'agent-joined' };
    case 'conversation.transferred':
      return event.data.toAgentId === null ? { text: `${agentLabel(before.assigneeName)} passed the conversation on to the team.`, testId: 'conversation-transferred' } : undefined;
    case 'conversation.resolved':
      return { text: 'Resolved', testId: 'conversation-resolved' };
    case 'conversation.reopened':
      return { text: event.data.mode === 'assistant' ? 'Reopened: the assistant answers again.' : 'Reopened.', testId: 'conversation-reopened' };
    case 'conversation.handed_back':
      return { text: 'The assistant answers again.', testId: 'handed-back' };
    case 'conversation.closed':
      return { text: 'This conversation is closed.', testId: 'conversation-closed' };
    case 'csat.submitted':
      return { text: `Rated ${event.data.rating} of 5. Thank you!`, testId: 'rating-sent' };
    default:
      return undefined;
  }
}

/** "Agent Dana", or "An agent" when the token carried no name. */
export function agentLabel(name: string | null | undefined): string {
  return name ? `Agent ${name}` : 'An agent';
}

/** "You are number 3 in the queue, about 4 minutes", or the team's opening time when it is closed (the assistant answers meanwhile). */
export function queueText(queue: QueuePosition | undefined, formatTime: (epochMs: number) => string = defaultTime): string {
  if (!queue) return 'Waiting for a person…';
  if (queue.closedUntil) return `The team is away until ${formatTime(queue.closedUntil)}. You are number ${queue.position} in the queue; the assistant answers meanwhile.`;
  const wait = queue.estimatedWaitMs === null ? '' : `, ${waitText(queue.estimatedWaitMs)}`;
  return `You are number ${queue.position} in the queue${wait}`;
}

/** "less than a minute", "about 1 minute", "about 4 minutes". */
export function waitText(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return 'less than a minute';
  return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** Whether the page asks for a rating: resolved, and this resolution not rated yet. */
export function wantsRating(state: SupportState): boolean {
  return state.mode === 'resolved' && state.resolution > 0 && !state.rated;
}

/** "09:00" today, "Mon 09:00" on another day. */
function defaultTime(epochMs: number): string {
  const at = new Date(epochMs);
  const today = at.toDateString() === new Date().toDateString();
  return at.toLocaleString([], { ...(today ? {} : { weekday: 'short' }), hour: '2-digit', minute: '2-digit' });
}
