import type { ParleyEvent } from '@parley/client';
import { describe, expect, it } from 'vitest';
import { applySupportEvent } from '../src/agent/support-state';
import { ASSISTANT_ANSWERS, isSupportEvent, queueText, supportNote, waitText, wantsRating } from '../src/support-view';

let seq = 0;
function event(type: string, data: Record<string, unknown>, actor: { kind: string; id: string } = { kind: 'system', id: 'parley' }): ParleyEvent {
  seq++;
  return { id: `e${seq}`, tenant: 'demo', conversation: 'c1', seq, type, ts: 1_000 + seq, actor, data } as unknown as ParleyEvent;
}

/** The state and the conversation's lines after `events`, as the customer's page shows them. */
function replay(events: ParleyEvent[]) {
  let state = ASSISTANT_ANSWERS;
  const lines: string[] = [];
  for (const next of events) {
    const note = supportNote(next, state, 'ada');
    if (note) lines.push(`${note.testId}: ${note.text}`);
    state = applySupportEvent(state, next);
  }
  return { state, lines };
}

describe('the customer page at the support desk', () => {
  it('follows a handoff, an agent, a resolution, a rating and a hand-back', () => {
    const { state, lines } = replay([
      event('handoff.requested', { reason: 'user', origin: 'client', from: 'assistant' }, { kind: 'user', id: 'ada' }),
      event('conversation.queued', { team: null, priority: 0, reason: 'user' }),
      event('conversation.assigned', { agentId: 'dana', agentName: 'Dana', team: null, kind: 'routing' }),
      event('conversation.resolved', { resolution: 1, agentId: 'dana' }, { kind: 'agent', id: 'dana' }),
    ]);
    expect(lines).toEqual(['handoff-requested: You asked to talk to a person.', 'agent-joined: Agent Dana joined', 'conversation-resolved: Resolved']);
    expect(state).toMatchObject({ mode: 'resolved', resolution: 1, rated: false, assigneeName: 'Dana' });
    expect(wantsRating(state)).toBe(true);

    const rated = replay([event('csat.submitted', { resolution: 1, rating: 4, comment: 'Quick', agentId: 'dana' }, { kind: 'user', id: 'ada' })]);
    expect(rated.lines).toEqual(['rating-sent: Rated 4 of 5. Thank you!']);
    expect(wantsRating(applySupportEvent(state, event('csat.submitted', { resolution: 1, rating: 4, agentId: 'dana' })))).toBe(false);
  });

  it('asks for a rating once per resolution: a rating of an earlier one does not count', () => {
    const { state } = replay([
      event('conversation.assigned', { agentId: 'dana', agentName: 'Dana', team: null, kind: 'claim' }),
      event('conversation.resolved', { resolution: 1, agentId: 'dana' }),
      event('csat.submitted', { resolution: 1, rating: 5, agentId: 'dana' }),
      event('conversation.reopened', { mode: 'agent', by: 'agent' }),
      event('conversation.resolved', { resolution: 2, agentId: 'dana' }),
    ]);
    expect(state).toMatchObject({ mode: 'resolved', resolution: 2, rated: false });
    expect(wantsRating(state)).toBe(true);
    expect(wantsRating(applySupportEvent(state, event('csat.submitted', { resolution: 1, rating: 3, agentId: 'dana' })))).toBe(true);
  });

  it('hands back to the assistant, and says who handed over when it was not the customer', () => {
    const { state, lines } = replay([
      event('handoff.requested', { reason: 'sentiment', origin: 'system', from: 'assistant' }),
      event('conversation.queued', { team: 'billing', priority: 1, reason: 'sentiment' }),
      event('conversation.assigned', { agentId: 'sam', agentName: null, team: 'billing', kind: 'claim' }),
      event('conversation.transferred', { fromAgentId: 'sam', toAgentId: null, toTeam: 'billing' }),
      event('conversation.queued', { team: 'billing', priority: 1, reason: 'transfer' }),
      event('conversation.assigned', { agentId: 'dana', agentName: 'Dana', team: 'billing', kind: 'routing', previousAgentId: 'sam' }),
      event('conversation.handed_back', { agentId: 'dana' }),
    ]);
    expect(lines).toEqual([
      'handoff-requested: The assistant is handing you over to a person.',
      'agent-joined: An agent joined',
      'conversation-transferred: An agent passed the conversation on to the team.',
      'agent-joined: Agent Dana joined',
      'handed-back: The assistant answers again.',
    ]);
    expect(state).toMatchObject({ mode: 'assistant', assigneeId: null });
    expect(wantsRating(state)).toBe(false);
  });

  it('tells support events from the others', () => {
    expect(isSupportEvent(event('conversation.queued', { team: null, priority: 0, reason: 'user' }))).toBe(true);
    expect(isSupportEvent(event('message.created', { content: { type: 'text', text: 'hi' } }))).toBe(false);
    expect(supportNote(event('message.created', { content: { type: 'text', text: 'hi' } }), ASSISTANT_ANSWERS, 'ada')).toBeUndefined();
  });
});

describe('queueText', () => {
  it('says the place and the wait', () => {
    expect(queueText({ position: 3, estimatedWaitMs: 4 * 60_000, team: null })).toBe('You are number 3 in the queue, about 4 minutes');
    expect(queueText({ position: 1, estimatedWaitMs: null, team: null })).toBe('You are number 1 in the queue');
    expect(queueText(undefined)).toBe('Waiting for a person…');
  });

  it('says when a closed team opens', () => {
    expect(queueText({ position: 2, estimatedWaitMs: null, team: 'billing', closedUntil: 5 }, () => '09:00')).toBe('The team is away until 09:00. You are number 2 in the queue; the assistant answers meanwhile.');
  });
});

describe('waitText', () => {
  it('rounds to minutes', () => {
    expect(waitText(10_000)).toBe('less than a minute');
    expect(waitText(60_000)).toBe('about 1 minute');
    expect(waitText(150_000)).toBe('about 3 minutes');
  });
});
