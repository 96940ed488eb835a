import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { RawClient } from '../support/raw-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

type Frame = Record<string, any>;

let counter = 0;
const conversationId = () => `desk-${process.pid}-${Date.now()}-${counter++}`;
const text = (value: string) => ({ type: 'text', text: value });

/** Every frame a raw client received (the raw client keeps them all). */
function framesOf(client: RawClient): Frame[] {
  return (client as unknown as { frames: Frame[] }).frames;
}

/**
 * The support desk over raw WebSocket frames, as a client the project did not write would see it: handoff,
 * routing, notes that customers never see, the mode gating the assistant, resolution and ratings.
 */
describe('support desk', () => {
  let server: TestServer;
  const clients: RawClient[] = [];
  const connect = async (user: string, options: { roles?: string[]; name?: string } = {}) => {
    const client = await RawClient.connect(server.wsUrl, await token(user, { roles: options.roles ?? ['user'], ...(options.name ? { claims: { name: options.name } } : {}) }));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startServer({
      PARLEY_DEMO_TTFT_MS: '20',
      PARLEY_DEMO_TOKENS_PER_SECOND: '400',
      PARLEY_SUPPORT_ROUTE_INTERVAL_MS: '200',
      PARLEY_REACTION_SWEEP_MS: '300',
      // The 1,000-message test sends as fast as it can.
      PARLEY_RATE_PER_SECOND: '5000',
      PARLEY_RATE_BURST: '5000',
      PARLEY_USER_SEND_RATE_PER_SECOND: '5000',
      PARLEY_USER_SEND_BURST: '5000',
    });
  });

  afterAll(async () => {
    if (process.env.DEBUG_DESK) console.log(server.logs.filter((line) => line.includes('"level":40') || line.includes('"level":50') || line.includes('DBG')).join('\n'));
    for (const client of clients) client.close();
    await server?.stop();
  });

  /** A customer's assistant conversation, subscribed from the start. */
  async function customerConversation(user: string): Promise<{ customer: RawClient; id: string }> {
    const customer = await connect(user);
    const id = conversationId();
    await customer.call('conversation.open', { conversationId: id, assistant: 'assistant' });
    await customer.call('subscribe', { conversationId: id, since: 0 });
    return { customer, id };
  }

  const typesOf = (client: RawClient, id: string) => client.events(id).map((event: Frame) => event.type as string);

  it('hands off on request, routes to an online agent, keeps notes from the customer, resolves and takes one rating', async () => {
    const { customer, id } = await customerConversation('carla');
    await customer.call('message.send', { conversationId: id, clientMsgId: 'c1', content: text('where is my order 1234?') });
    await eventually(() => expect(typesOf(customer, id)).toContain('ai.completed'));

    const dana = await connect('dana', { roles: ['agent'], name: 'Dana' });
    const online = await dana.call('agent.status', { status: 'online' });
    expect(online.agent).toMatchObject({ userId: 'dana', name: 'Dana', status: 'online' });

    // The customer asks for a person in words: the profile's content rule hands off.
    await customer.call('message.send', { conversationId: id, clientMsgId: 'c2', content: text('I want to talk to a person please') });
    await eventually(() => expect(typesOf(customer, id)).toContain('conversation.assigned'));
    const assigned = customer.events(id).find((event: Frame) => event.type === 'conversation.assigned')!;
    // Dana heard of it at once, without polling her inbox.
    const told = await dana.waitFor((frame) => frame.push === 'notification' && frame.notification.data.conversationId === id);
    expect(told.notification.data).toEqual({ type: 'support.assigned', conversationId: id, seq: assigned.seq });
    expect(assigned.data).toMatchObject({ agentId: 'dana', agentName: 'Dana', kind: 'routing' });
    const requested = customer.events(id).find((event: Frame) => event.type === 'handoff.requested')!;
    expect(requested.data).toMatchObject({ reason: 'rule', origin: 'system', from: 'assistant' });
    const get = await customer.call('conversation.get', { conversationId: id });
    expect(get.conversation.support).toMatchObject({ mode: 'agent', assigneeId: 'dana', assigneeName: 'Dana' });
    expect(get.conversation.support.lastStaffSeq).toBeUndefined();

    // The agent reads the staff-only sequence: sentiment, routing decision, the AI's summary.
    await dana.call('subscribe', { conversationId: id, since: 0, staffSince: 0 });
    const staffTypes = () => framesOf(dana).filter((frame) => frame.push === 'staffEvent').map((frame) => frame.event.type);
    await eventually(() => expect(staffTypes()).toEqual(expect.arrayContaining(['support.sentiment', 'routing.decided', 'support.summary'])), 8000).catch(async (error: unknown) => {
      const stored = (await dana.call('support.staffHistory', { conversationId: id })).events.map((event: Frame) => event.type);
      throw new Error(`${String(error)}; stored: ${stored.join(', ')}; delivered: ${staffTypes().join(', ')}`);
    });
    const note = await dana.call('support.note', { conversationId: id, clientMsgId: 'n1', text: 'VIP customer, be nice' });
    const again = await dana.call('support.note', { conversationId: id, clientMsgId: 'n1', text: 'VIP customer, be nice' });
    expect(again).toEqual({ ...note, duplicate: true });
    await dana.waitFor((frame) => frame.push === 'staffEvent' && frame.event.type === 'note.created');

    // While Dana owns it, customer messages start no answer.
    await dana.call('message.send', { conversationId: id, clientMsgId: 'd1', content: text('Hi, Dana here. Let me look.') });
    const answersBefore = typesOf(customer, id).filter((type) => type === 'ai.started').length;
    for (let index = 0; index < 5; index++) await customer.call('message.send', { conversationId: id, clientMsgId: `q${index}`, content: text(`still there? ${index}`) });
    await dana.call('support.resolve', { conversationId: id });
    await eventually(() => expect(typesOf(customer, id)).toContain('conversation.resolved'));
    expect(typesOf(customer, id).filter((type) => type === 'ai.started').length).toBe(answersBefore);

    // One rating per resolution; a bad rating is a bad request, not stored.
    expect((await customer.request('support.rate', { conversationId: id, rating: 6 })).error.code).toBe('bad_request');
    expect((await dana.request('support.rate', { conversationId: id, rating: 5 })).error.code).toBe('forbidden');
    await customer.call('support.rate', { conversationId: id, rating: 4, comment: 'quick and kind' });
    expect((await customer.request('support.rate', { conversationId: id, rating: 5 })).error.code).toBe('conflict');

    // The customer never saw a staff-only event, live or in history, and their seqs have no gap.
    expect(framesOf(customer).some((frame) => frame.push === 'staffEvent' || (frame.push === 'signal' && frame.signal.type === 'staff.event'))).toBe(false);
    const history = await customer.call('history', { conversationId: id, after: 0, limit: 200 });
    const seqs = history.events.map((event: Frame) => event.seq);
    expect(seqs).toEqual(seqs.map((_: number, index: number) => index + 1));
    expect(history.events.some((event: Frame) => ['note.created', 'support.summary', 'support.sentiment', 'routing.decided'].includes(event.type))).toBe(false);
    // A raw client resuming across the note sees neither a gap nor a placeholder.
    const resumed = await connect('carla');
    await resumed.call('subscribe', { conversationId: id, since: 2 });
    await eventually(() => expect(resumed.events(id).at(-1)?.seq).toBe(seqs.at(-1)));
    expect(resumed.events(id).map((event: Frame) => event.seq)).toEqual(seqs.slice(2));
    expect((await resumed.request('support.staffHistory', { conversationId: id })).error.code).toBe('forbidden');
    expect((await resumed.request('subscribe', { conversationId: id, staffSince: 0 })).error.code).toBe('forbidden');

    // Writing again reopens it to the assistant, which answers.
    await customer.call('message.send', { conversationId: id, clientMsgId: 'c3', content: text('one more question: how long does shipping take?') });
    await eventually(() => expect(typesOf(customer, id).filter((type) => type === 'ai.completed').length).toBe(2));
    expect(customer.events(id).find((event: Frame) => event.type === 'conversation.reopened')!.data).toEqual({ mode: 'assistant', by: 'customer' });
    await dana.call('agent.status', { status: 'offline' });
  });

  it('hands off when the model calls handoff_to_human: the turn ends there, and no answer starts while queued', async () => {
    // Without the profile's content rule matching ("a representative" is not one of its phrases), only the model hands off.
    const { customer, id } = await customerConversation('cyra');
    await customer.call('message.send', { conversationId: id, clientMsgId: 'r1', content: text('can I get a representative?') });
    await eventually(() => expect(typesOf(customer, id)).toContain('conversation.queued'));
    const events = customer.events(id) as Frame[];
    const stopped = events.find((event) => event.type === 'ai.stopped')!;
    expect(stopped.data).toMatchObject({ reason: 'handoff', text: '' });
    expect(events.find((event) => event.type === 'ai.tool_call')!.data.toolName).toBe('handoff_to_human');
    const requested = events.find((event) => event.type === 'handoff.requested')!;
    expect(requested.data).toMatchObject({ reason: 'tool', origin: 'assistant', from: 'assistant' });
    expect(requested.actor).toEqual({ kind: 'assistant', id: 'assistant' });
    expect(stopped.seq).toBeLessThan(events.find((event) => event.type === 'conversation.queued')!.seq);
    // Queued: a second question starts no answer, and the tool is not called again.
    await customer.call('message.send', { conversationId: id, clientMsgId: 'r2', content: text('hello? a representative please') });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(typesOf(customer, id).filter((type) => type === 'ai.started')).toHaveLength(1);
  });

  it('hands off on a very negative message', async () => {
    const { customer, id } = await customerConversation('cass');
    await customer.call('message.send', { conversationId: id, clientMsgId: 's1', content: text('This is terrible, awful, horrible service. I hate it, worst ever!') });
    await eventually(() => expect(typesOf(customer, id)).toContain('handoff.requested'));
    expect(customer.events(id).find((event: Frame) => event.type === 'handoff.requested')!.data).toMatchObject({ reason: 'sentiment', origin: 'system' });
  });

  it('starts no answer for 1,000 customer messages while an agent owns the conversation', async () => {
    const { customer, id } = await customerConversation('cody');
    const agent = await connect('ava', { roles: ['agent'], name: 'Ava' });
    await customer.call('support.handoff', { conversationId: id });
    await agent.call('support.claim', { conversationId: id });
    // In windows of 50: a connection may have only so many requests in flight (`busy` beyond).
    const errors: string[] = [];
    for (let start = 0; start < 1000; start += 50) {
      const replies = await Promise.all(Array.from({ length: 50 }, (_, offset) => customer.request('message.send', { conversationId: id, clientMsgId: `m${start + offset}`, content: text(`message ${start + offset}: where is my order 1234?`) })));
      errors.push(...replies.filter((reply) => reply.error).map((reply) => `${reply.error.code}: ${reply.error.message}`));
    }
    expect(errors).toEqual([]);
    // The answer reaction has seen every message (the sentiment of the last one is recorded after it).
    await eventually(async () => {
      const staff = await agent.call('support.staffHistory', { conversationId: id, after: 0, limit: 200 });
      expect(staff.hasMore || staff.events.length >= 200).toBe(true);
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const history = await customer.call('history', { conversationId: id, before: 100_000, limit: 200 });
    expect(history.events.at(-1).seq).toBeGreaterThanOrEqual(1000);
    expect(typesOf(customer, id).filter((type) => type.startsWith('ai.'))).toEqual([]);
    await agent.call('support.resolve', { conversationId: id });
    await agent.call('agent.status', { status: 'offline' });
  });

  it('runs the desk over the server API: teams, agents, canned replies, handoff, notes, staff events, the report', async () => {
    const admin = await token('boss', { roles: ['admin'] });
    const created = await apiCall(server, admin, 'POST', '/keys', { name: 'desk', scopes: ['conversations:write', 'messages:write', 'support:write'] });
    const key = created.body.key as string;
    const reader = (await apiCall(server, admin, 'POST', '/keys', { name: 'reader', scopes: ['support:read', 'conversations:read'] })).body.key as string;
    const hours = { timeZone: 'Europe/Paris', days: { '1': [['09:00', '17:00']], '2': [['09:00', '17:00']] } };
    expect((await apiCall(server, key, 'PUT', '/support/teams/billing', { name: 'Billing', skills: ['invoices'], businessHours: hours })).status).toBe(200);
    expect((await apiCall(server, key, 'PUT', '/support/teams/bad', { name: 'Bad', businessHours: { timeZone: 'Europe/Paris', days: { '9': [] } } })).status).toBe(400);
    expect((await apiCall(server, key, 'PUT', '/support/agents/bea', { teams: ['nope'], skills: [], capacity: 3 })).body.error.code).toBe('bad_request');
    const agent = await apiCall(server, key, 'PUT', '/support/agents/bea', { name: 'Bea', teams: ['billing'], skills: ['invoices'], capacity: 3 });
    expect(agent.body.agent).toMatchObject({ userId: 'bea', name: 'Bea', teams: ['billing'], capacity: 3, open: 0 });
    expect((await apiCall(server, key, 'PUT', '/support/canned/greet', { team: null, shortcut: '/hi', text: 'Hi {{customer.name}}, {{agent.name}} here.' })).status).toBe(200);
    expect((await apiCall(server, reader, 'PUT', '/support/canned/x', { team: null, shortcut: '/x', text: 'x' })).status).toBe(403);

    const id = conversationId();
    expect((await apiCall(server, key, 'POST', '/conversations', { id, members: ['cleo'], assistant: 'assistant', metadata: { customerName: 'Cleo' } })).status).toBe(201);
    const handedOff = await apiCall(server, key, 'POST', `/conversations/${id}/handoff`, { detail: 'VIP' });
    expect(handedOff.status).toBe(200);
    expect(handedOff.body.support).toMatchObject({ mode: 'queued' });
    const note = await apiCall(server, key, 'POST', `/conversations/${id}/notes`, { clientMsgId: 'n1', text: 'from the CRM: VIP' });
    expect(note.status).toBe(201);
    const staff = await apiCall(server, reader, 'GET', `/conversations/${id}/staff-events?after=0`);
    expect(staff.body.events.map((event: Frame) => event.type)).toContain('note.created');
    expect((await apiCall(server, key, 'POST', `/conversations/${id}/assign`, { agentId: 'bea', expectedAgentId: 'someone' })).status).toBe(409);
    const assigned = await apiCall(server, key, 'POST', `/conversations/${id}/assign`, { agentId: 'bea', expectedAgentId: null });
    expect(assigned.body.support).toMatchObject({ mode: 'agent', assigneeId: 'bea', assigneeName: 'Bea' });
    const bea = await connect('bea', { roles: ['agent'], name: 'Bea' });
    const canned = await bea.call('support.canned', { conversationId: id });
    expect(canned.replies).toEqual([expect.objectContaining({ shortcut: '/hi', rendered: 'Hi Cleo, Bea here.' })]);
    const inbox = await bea.call('support.inbox', { view: 'mine' });
    expect(inbox.items.map((item: Frame) => item.conversationId)).toContain(id);
    expect(inbox.counts.mine).toBeGreaterThanOrEqual(1);
    expect((await apiCall(server, key, 'POST', `/conversations/${id}/resolve`)).status).toBe(200);
    const report = await apiCall(server, admin, 'GET', '/support/report');
    expect(report.status).toBe(200);
    expect(report.body.handoffs.byReason.api).toBeGreaterThanOrEqual(1);
    expect(report.body.resolutionMs.count).toBeGreaterThanOrEqual(1);
    expect((await apiCall(server, await token('cleo'), 'GET', '/support/report')).status).toBe(403);
  });

  it('refuses illegal transitions with conflict and keeps closed final', async () => {
    const { customer, id } = await customerConversation('cleo');
    const sam = await connect('sam', { roles: ['agent'], name: 'Sam' });
    expect((await sam.request('support.resolve', { conversationId: id })).error).toBeUndefined();
    expect((await sam.request('support.handBack', { conversationId: id })).error.code).toBe('conflict');
    expect((await sam.request('support.claim', { conversationId: id })).error.code).toBe('conflict');
    await customer.call('support.handoff', { conversationId: id });
    expect((await customer.request('support.handoff', { conversationId: id })).error.code).toBe('conflict');
    const claimed = await sam.call('support.claim', { conversationId: id });
    expect(claimed.support).toMatchObject({ mode: 'agent', assigneeId: 'sam' });
    expect((await sam.request('support.assign', { conversationId: id, agentId: 'sam', expectedAgentId: 'someone-else' })).error.code).toBe('conflict');
    await sam.call('support.close', { conversationId: id });
    expect((await customer.request('message.send', { conversationId: id, clientMsgId: 'late', content: text('hello?') })).error.code).toBe('conflict');
    for (const op of ['support.reopen', 'support.resolve', 'support.handBack', 'support.close', 'support.claim']) {
      expect((await sam.request(op, { conversationId: id })).error?.code, op).toBe('conflict');
    }
    // People-only conversations have no support desk, and agents do not reach them.
    const people = conversationId();
    await customer.call('conversation.open', { conversationId: people, members: ['bob'] });
    expect((await customer.request('support.handoff', { conversationId: people })).error.code).toBe('conflict');
    expect((await sam.request('history', { conversationId: people })).error.code).toBe('forbidden');
    // Claiming registered Sam as online: off duty again, so that routing leaves the next tests alone.
    await sam.call('agent.status', { status: 'offline' });
  });

  it('hands back to the assistant, which then answers and sees the hand-back in its context', async () => {
    const { customer, id } = await customerConversation('cora');
    const agent = await connect('ari', { roles: ['agent'], name: 'Ari' });
    await customer.call('support.handoff', { conversationId: id, detail: 'button' });
    await agent.call('support.claim', { conversationId: id });
    await agent.call('support.handBack', { conversationId: id });
    await customer.call('message.send', { conversationId: id, clientMsgId: 'after', content: text('where is my order 1234?') });
    await eventually(() => expect(typesOf(customer, id)).toContain('ai.completed'));
    const completed = customer.events(id).find((event: Frame) => event.type === 'ai.completed')!;
    const context = await agent.call('ai.context', { conversationId: id, generationId: completed.data.generationId });
    expect(JSON.stringify(context.messages)).toContain('handed it back to you');
  });

  it('a handoff during an answer stops it before the conversation is queued, and no answer starts after it', async () => {
    const slow = await startServer({ PARLEY_DEMO_TTFT_MS: '50', PARLEY_DEMO_TOKENS_PER_SECOND: '20' });
    try {
      const customer = await RawClient.connect(slow.wsUrl, await token('race'));
      clients.push(customer);
      for (let round = 0; round < 3; round++) {
        const id = conversationId();
        await customer.call('conversation.open', { conversationId: id, assistant: 'assistant' });
        await customer.call('subscribe', { conversationId: id, since: 0 });
        // The message and the handoff at the same moment (after a short delay in later rounds: mid-answer).
        const sent = customer.call('message.send', { conversationId: id, clientMsgId: 'm', content: text('tell me a long story') });
        if (round > 0) await customer.waitFor((frame) => frame.push === 'signal' && frame.signal.conversation === id && frame.signal.type === 'ai.delta');
        await Promise.all([sent, customer.call('support.handoff', { conversationId: id })]);
        await eventually(() => expect(typesOf(customer, id)).toContain('conversation.queued'));
        await new Promise((resolve) => setTimeout(resolve, 300));
        const events = customer.events(id) as Frame[];
        const seqOf = (type: string) => events.find((event) => event.type === type)?.seq;
        const handoff = seqOf('handoff.requested')!;
        const queued = seqOf('conversation.queued')!;
        const started = events.filter((event) => event.type === 'ai.started');
        // Either the answer started before the handoff (and ended, stopped for it, before the queue), or never.
        for (const start of started) expect(start.seq).toBeLessThan(handoff);
        const ends = events.filter((event) => ['ai.completed', 'ai.stopped', 'ai.failed'].includes(event.type));
        expect(ends.length).toBe(started.length);
        for (const end of ends) expect(end.seq).toBeLessThan(queued);
        if (round > 0) expect(events.find((event) => event.type === 'ai.stopped')?.data.reason).toBe('handoff');
      }
    } finally {
      await slow.stop();
    }
  });
});
