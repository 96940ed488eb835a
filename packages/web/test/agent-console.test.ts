import type { ParleyEvent, ParleyStaffEvent, SupportState } from '@parley/client';
import { describe, expect, it } from 'vitest';
import { describeHours, hoursForm, hoursFromForm } from '../src/agent/business-hours';
import { matchCanned } from '../src/agent/Composer';
import { applySupportEvent, supportActions } from '../src/agent/support-state';
import { Timeline } from '../src/agent/timeline';

const base = { tenant: 'demo', conversation: 'c1', ts: 1_000 };
let nextSeq = 1;
function event(type: string, actor: { kind: 'user' | 'agent' | 'assistant' | 'system'; id: string }, data: Record<string, unknown>, extra: Record<string, unknown> = {}): ParleyEvent {
  const seq = nextSeq++;
  return { ...base, id: `e${seq}`, seq, type, actor, data, ...extra } as ParleyEvent;
}
function staff(staffSeq: number, afterSeq: number, type: string, data: Record<string, unknown>, extra: Record<string, unknown> = {}): ParleyStaffEvent {
  return { ...base, id: `s${staffSeq}`, staffSeq, afterSeq, type, actor: { kind: 'agent', id: 'sam' }, data, ...extra } as ParleyStaffEvent;
}
const text = (value: string) => ({ content: { type: 'text', text: value } });
const ADA = { kind: 'user' as const, id: 'ada' };

describe('Timeline', () => {
  it('places staff events right after the members event they follow, and attaches sentiment to its message', () => {
    nextSeq = 1;
    const names = new Map<string, string>();
    const timeline = new Timeline('dana');
    timeline.setCustomer('ada');
    timeline.addEvent(event('message.created', ADA, text('hello')), names);
    timeline.addEvent(event('message.created', ADA, text('this is awful')), names);
    timeline.addEvent(event('conversation.assigned', { kind: 'system', id: 'system' }, { agentId: 'dana', agentName: 'Dana', team: null, kind: 'routing' }), names);
    timeline.addStaffEvent(staff(2, 1, 'note.created', { text: 'second note' }), names);
    timeline.addStaffEvent(staff(1, 1, 'note.created', { text: 'first note' }), names);
    timeline.addStaffEvent(staff(3, 2, 'support.sentiment', { messageSeq: 2, score: -0.7, label: 'negative', analyzer: 'sentiment' }), names);

    const items = timeline.items();
    expect(items.map((item) => item.text)).toEqual(['hello', 'first note', 'second note', 'this is awful', 'Dana joined (routed)']);
    expect(items[3]).toMatchObject({ kind: 'message', authorKind: 'customer', sentiment: { label: 'negative' } });
    expect(timeline.sentiment).toEqual({ label: 'negative', score: -0.7 });
    expect(names.get('dana')).toBe('Dana');
  });

  it('shows a note or message at once and replaces it with the stored event, never twice', () => {
    nextSeq = 1;
    const names = new Map<string, string>();
    const timeline = new Timeline('dana');
    const message = timeline.addPending('message', 'm1', 'on it');
    const note = timeline.addPending('note', 'n1', 'check the invoice');
    const bare = timeline.addPending('note', 'n2', 'no causation');
    expect(timeline.items().map((item) => 'status' in item && item.status)).toEqual(['sending', 'sending', 'sending']);

    timeline.addEvent(event('message.created', { kind: 'agent', id: 'dana' }, text('on it'), { causation: { clientMsgId: 'm1' } }), names);
    timeline.addStaffEvent({ ...staff(1, 1, 'note.created', { text: 'check the invoice' }, { causation: { clientMsgId: 'n1' } }), actor: { kind: 'agent', id: 'dana' } }, names);
    timeline.confirmNote(bare, 's2');
    timeline.addStaffEvent({ ...staff(2, 1, 'note.created', { text: 'no causation' }), actor: { kind: 'agent', id: 'dana' } }, names);

    const items = timeline.items();
    expect(items.map((item) => item.key)).toEqual([message, note, bare]);
    expect(items.map((item) => 'status' in item && item.status)).toEqual(['sent', 'sent', 'sent']);
    expect(items[0]).toMatchObject({ mine: true });
  });

  it('keeps the latest summary and writes support events as lines', () => {
    nextSeq = 1;
    const names = new Map([['sam', 'Sam']]);
    const timeline = new Timeline('dana');
    timeline.addEvent(event('handoff.requested', ADA, { reason: 'user', origin: 'client', from: 'assistant' }), names);
    timeline.addStaffEvent(staff(1, 1, 'support.summary', { text: 'Ada wants a refund', reason: 'user', model: 'demo' }), names);
    timeline.addEvent(event('conversation.queued', { kind: 'system', id: 'system' }, { team: 'billing', priority: 0, reason: 'user' }), names);
    timeline.addEvent(event('conversation.transferred', { kind: 'agent', id: 'dana' }, { fromAgentId: 'dana', toAgentId: 'sam', toTeam: null, reason: 'invoices' }), names);
    timeline.addEvent(event('csat.submitted', ADA, { resolution: 1, rating: 4, comment: 'Quick', agentId: 'sam' }), names);

    expect(timeline.summary?.text).toBe('Ada wants a refund');
    expect(timeline.items().map((item) => item.text)).toEqual([
      'The customer asked for a person',
      'Ada wants a refund',
      'Waiting in the billing queue',
      'Transferred to Sam: invoices',
      'Rated 4 of 5: “Quick”',
    ]);
  });
});

describe('support state', () => {
  const queued: SupportState = { mode: 'queued', team: null, assigneeId: null, assigneeName: null, queuedAt: 5, priority: 0, resolution: 0, rated: false };

  it('follows the events of the state machine', () => {
    nextSeq = 1;
    let state = applySupportEvent(queued, event('conversation.assigned', { kind: 'agent', id: 'dana' }, { agentId: 'dana', agentName: 'Dana', team: null, kind: 'claim' }));
    expect(state).toMatchObject({ mode: 'agent', assigneeId: 'dana', assigneeName: 'Dana', queuedAt: null });
    state = applySupportEvent(state, event('conversation.resolved', { kind: 'agent', id: 'dana' }, { resolution: 1, agentId: 'dana' }));
    expect(state).toMatchObject({ mode: 'resolved', resolution: 1, rated: false });
    state = applySupportEvent(state, event('csat.submitted', ADA, { resolution: 1, rating: 5, agentId: 'dana' }));
    expect(state.rated).toBe(true);
    state = applySupportEvent(state, event('conversation.reopened', ADA, { mode: 'assistant', by: 'customer' }));
    expect(state).toMatchObject({ mode: 'assistant', assigneeId: null });
  });

  it('offers what the mode allows', () => {
    expect(supportActions(queued, 'dana')).toEqual({ take: 'claim', transfer: true, resolve: true, reopen: false, handBack: true, reply: true });
    expect(supportActions({ ...queued, mode: 'agent', assigneeId: 'dana' }, 'dana').take).toBeNull();
    expect(supportActions({ ...queued, mode: 'agent', assigneeId: 'sam' }, 'dana').take).toBe('takeOverFromAgent');
    expect(supportActions({ ...queued, mode: 'assistant' }, 'dana').take).toBe('takeOverFromAssistant');
    expect(supportActions({ ...queued, mode: 'resolved' }, 'dana')).toMatchObject({ reopen: true, transfer: false, handBack: false });
    expect(supportActions({ ...queued, mode: 'closed' }, 'dana')).toEqual({ take: null, transfer: false, resolve: false, reopen: false, handBack: false, reply: false });
  });
});

describe('business hours', () => {
  it('writes every weekday (closed ones empty) and reads them back', () => {
    const form = hoursForm(null, 'Europe/Berlin');
    form.enabled = true;
    form.days['5'] = { open: true, from: '09:00', to: '15:00' };
    const result = hoursFromForm(form);
    if (!('hours' in result) || !result.hours) throw new Error('expected hours');
    expect(result.hours.days).toEqual({ '0': [], '1': [['09:00', '17:00']], '2': [['09:00', '17:00']], '3': [['09:00', '17:00']], '4': [['09:00', '17:00']], '5': [['09:00', '15:00']], '6': [] });
    expect(hoursForm(result.hours, 'UTC')).toEqual(form);
    expect(describeHours(result.hours)).toContain('Fri 09:00–15:00');
  });

  it('refuses an unknown time zone and intervals that end before they start', () => {
    const form = hoursForm(null, 'Mars/Olympus');
    form.enabled = true;
    expect(hoursFromForm(form)).toEqual({ error: expect.stringContaining('Mars/Olympus') });
    form.timeZone = 'UTC';
    form.days['1'] = { open: true, from: '18:00', to: '09:00' };
    expect(hoursFromForm(form)).toEqual({ error: 'Monday: the end must be after the start' });
    expect(hoursFromForm({ ...form, enabled: false })).toEqual({ hours: null });
  });
});

describe('canned reply search', () => {
  const replies = [
    { id: 'thanks', team: null, shortcut: '/thanks', text: '', rendered: 'Thanks for waiting, Ada!' },
    { id: 'refund', team: 'billing', shortcut: '/refund', text: '', rendered: 'Your refund is on its way.' },
    { id: 'late', team: null, shortcut: '/late', text: '', rendered: 'Sorry, the parcel is late: refund or resend?' },
  ];

  it('matches shortcuts first, then the text', () => {
    expect(matchCanned(replies, 'ref').map((reply) => reply.id)).toEqual(['refund', 'late']);
    expect(matchCanned(replies, '').map((reply) => reply.id)).toEqual(['thanks', 'refund', 'late']);
    expect(matchCanned(replies, 'zzz')).toEqual([]);
  });
});
