import type { OperationArgs, OperationName, SupportState } from '@parley/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKnownStaffEventType, type ParleyClient, type ParleyStaffEvent } from '../src/index.js';
import { FakeServer } from './helpers/fake-server.js';
import { closeClients, createClient, record, waitFor } from './helpers/util.js';

let server: FakeServer;

beforeEach(async () => {
  server = await FakeServer.start();
});

afterEach(async () => {
  closeClients();
  await server.close();
});

async function connected(): Promise<ParleyClient> {
  const client = createClient(server);
  await client.connect();
  return client;
}

function note(conversationId: string, text: string, push = true) {
  return server.appendStaff(conversationId, { type: 'note.created', data: { text } }, { push });
}

describe('staff events on a subscription', () => {
  it('replays staff events after staffSince 0, then live ones, to the subscription and the client', async () => {
    note('c1', 'VIP customer');
    const client = await connected();
    const clientStaff = record<ParleyStaffEvent>((listener) => client.on('staffEvent', listener));
    const subscription = client.subscribe('c1', { staff: true });
    const staff = record<ParleyStaffEvent>((listener) => subscription.on('staffEvent', listener));
    await subscription.ready;

    server.appendStaff('c1', { type: 'support.sentiment', data: { messageSeq: 1, score: -0.6, label: 'negative', analyzer: 'sentiment' } });
    await waitFor(() => staff.length === 2, 'two staff events');

    expect(server.requests('subscribe')[0]?.args).toEqual({ conversationId: 'c1', staffSince: 0 });
    expect(staff.map(describeStaff)).toEqual(['note: VIP customer', 'sentiment: negative']);
    expect(clientStaff).toEqual(staff);
    expect(subscription.lastStaffSeq).toBe(2);
  });

  it('starts after the given staffSince', async () => {
    ['one', 'two', 'three'].forEach((text) => note('c1', text));
    const client = await connected();
    const subscription = client.subscribe('c1', { since: 0, staff: true, staffSince: 2 });
    const staff = record<ParleyStaffEvent>((listener) => subscription.on('staffEvent', listener));
    await subscription.ready;
    await client.ping(); // replies come after the pushes sent before them

    expect(staff.map((event) => event.staffSeq)).toEqual([3]);
  });

  it('drops duplicate staff events', async () => {
    const client = await connected();
    const subscription = client.subscribe('c1', { staff: true });
    const staff = record<ParleyStaffEvent>((listener) => subscription.on('staffEvent', listener));
    await subscription.ready;
    const one = note('c1', 'one', false);
    const two = note('c1', 'two', false);

    for (const event of [one, one, two, one, two]) server.current.send({ push: 'staffEvent', event });
    await client.ping();

    expect(staff.map((event) => event.staffSeq)).toEqual([1, 2]);
  });

  it('fills a staff gap from support.staffHistory before delivering later staff events', async () => {
    const client = await connected();
    const subscription = client.subscribe('c1', { staff: true });
    const staff = record<ParleyStaffEvent>((listener) => subscription.on('staffEvent', listener));
    await subscription.ready;
    const stored = ['one', 'two', 'three', 'four'].map((text) => note('c1', text, false));

    server.current.send({ push: 'staffEvent', event: stored[0] });
    server.current.send({ push: 'staffEvent', event: stored[3] });
    await waitFor(() => staff.length === 4, 'all four staff events');

    expect(staff.map((event) => event.staffSeq)).toEqual([1, 2, 3, 4]);
    expect(server.requests('support.staffHistory').map((request) => request.args)).toEqual([{ conversationId: 'c1', after: 1, limit: 2 }]);
    expect(server.requests('history')).toEqual([]);
  });

  it('resumes after a reconnect from the last seq and staff seq, delivering what was missed once', async () => {
    server.append('c1', 'hello');
    note('c1', 'first note');
    const client = await connected();
    const subscription = client.subscribe('c1', { since: 0, staff: true });
    const staff = record<ParleyStaffEvent>((listener) => subscription.on('staffEvent', listener));
    const events = record((listener) => subscription.on('event', listener));
    await waitFor(() => staff.length === 1 && events.length === 1, 'the stored event and note');

    // Stored while the client is not told, as if it were away; then the connection dies.
    server.append('c1', 'while away', { push: false });
    note('c1', 'while away', false);
    server.current.terminate();
    await waitFor(() => staff.length === 2 && events.length === 2, 'what was missed');
    note('c1', 'live again');
    await waitFor(() => staff.length === 3, 'the live note');

    expect(server.requests('subscribe').map((request) => request.args)).toEqual([
      { conversationId: 'c1', since: 0, staffSince: 0 },
      { conversationId: 'c1', since: 1, staffSince: 1 },
    ]);
    expect(staff.map((event) => event.staffSeq)).toEqual([1, 2, 3]);
  });

  it('follows no staff events without staff: true, and refuses staffSince without it', async () => {
    const client = await connected();
    const subscription = client.subscribe('c1');
    const staff = record<ParleyStaffEvent>((listener) => client.on('staffEvent', listener));
    await subscription.ready;

    server.current.send({ push: 'staffEvent', event: note('c1', 'hidden', false) });
    await client.ping();

    expect(staff).toEqual([]);
    expect(subscription.lastStaffSeq).toBeUndefined();
    expect(server.requests('subscribe')[0]?.args).toEqual({ conversationId: 'c1' });
    expect(() => client.subscribe('c2', { staffSince: 3 })).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });

  it('types staff events by the catalogue: an unknown type passes, a known type with invalid data is reported', async () => {
    const client = await connected();
    const errors = record<Error>((listener) => client.on('error', listener));
    const subscription = client.subscribe('c1', { staff: true });
    const staff = record<ParleyStaffEvent>((listener) => subscription.on('staffEvent', listener));
    await subscription.ready;

    server.appendStaff('c1', { type: 'moderation.flagged', data: { score: 0.9 } });
    server.appendStaff('c1', { type: 'note.created', data: { text: 42 } });
    note('c1', 'fine');
    await waitFor(() => staff.length === 2, 'two staff events');

    expect(staff.map(describeStaff)).toEqual(['moderation.flagged (not known to this SDK)', 'note: fine']);
    expect(errors.map((error) => error.message)).toEqual([expect.stringMatching(/^staff event 2 \(note\.created\) of c1 has invalid data: text/)]);
    expect(subscription.lastStaffSeq).toBe(3);
  });

  it('types staffHistory pages the same way', async () => {
    const client = await connected();
    ['one', 'two', 'three'].forEach((text) => note('c1', text, false));

    const page = await client.staffHistory('c1', { after: 1, limit: 1 });

    expect(page.events.map(describeStaff)).toEqual(['note: two']);
    expect(page.hasMore).toBe(true);
  });
});

describe('notes', () => {
  it('generates a clientMsgId, and a re-send with the same one stores the note once', async () => {
    const client = await connected();

    const first = await client.note('c1', 'call back tomorrow');
    const clientMsgId = server.requests('support.note')[0]?.args.clientMsgId as string;
    const again = await client.note('c1', 'call back tomorrow', clientMsgId);

    expect(clientMsgId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first).toMatchObject({ staffSeq: 1, duplicate: false });
    expect(again).toEqual({ ...first, duplicate: true });
    expect(server.staffLog('c1')).toHaveLength(1);
  });

  it('sends a note again with the same clientMsgId when the connection dies before the reply, storing it once', async () => {
    const client = await connected();
    let killed = false;
    server.intercept = (request, connection) => {
      if (request.op !== 'support.note' || killed) return false;
      killed = true;
      server.storeNote(request.args as OperationArgs<'support.note'>);
      connection.terminate();
      return true;
    };

    const result = await client.note('c1', 'refund approved');

    const sends = server.requests('support.note');
    expect(sends).toHaveLength(2);
    expect(sends[1]?.args.clientMsgId).toBe(sends[0]?.args.clientMsgId);
    expect(result).toMatchObject({ staffSeq: 1, duplicate: true });
    expect(server.staffLog('c1')).toHaveLength(1);
  });

  it('does not retry a note the server refuses', async () => {
    const client = await connected();
    server.intercept = (request, connection) => {
      if (request.op !== 'support.note') return false;
      connection.fail(request.id, 'forbidden', 'not staff');
      return true;
    };

    await expect(client.note('c1', 'hello')).rejects.toMatchObject({ code: 'forbidden' });
    expect(server.requests('support.note')).toHaveLength(1);
  });
});

const SUPPORT: SupportState = { mode: 'agent', team: null, assigneeId: 'dana', assigneeName: 'Dana', queuedAt: null, priority: 0, resolution: 0, rated: false };
const AGENT = { userId: 'dana', name: 'Dana', picture: null, teams: [], skills: [], capacity: 5, status: 'away', open: 0, connected: true };
const TRANSITION = { seq: 7, support: SUPPORT };

/** Replies to support operations with `results[op]`, recording nothing beyond what the server records. */
function answer(results: Partial<Record<OperationName, unknown>>): void {
  server.intercept = (request, connection) => {
    if (!Object.hasOwn(results, request.op)) return false;
    connection.reply(request.id, results[request.op]);
    return true;
  };
}

describe('support operations', () => {
  it('send their arguments as the protocol names them and resolve with the typed result', async () => {
    const client = await connected();
    const inbox = { items: [], nextCursor: null, counts: { queue: 3, mine: 1, team: 2, all: 9 } };
    const replies = [{ id: 'refund', team: null, shortcut: '/refund', text: 'Hi {{customer.name}}', rendered: 'Hi Ada' }];
    answer({
      'support.handoff': TRANSITION,
      'support.claim': { seq: null, support: SUPPORT },
      'support.assign': TRANSITION,
      'support.transfer': TRANSITION,
      'support.resolve': TRANSITION,
      'support.reopen': TRANSITION,
      'support.handBack': TRANSITION,
      'support.close': TRANSITION,
      'support.rate': { seq: 8 },
      'support.inbox': inbox,
      'support.canned': { replies },
      'agent.status': { agent: AGENT },
      'agent.viewing': {},
    });

    expect(await client.handoff('c1', 'asked for a person')).toEqual(TRANSITION);
    expect(await client.claim('c1')).toEqual({ seq: null, support: SUPPORT });
    await client.assign('c1', 'sam', 'dana');
    await client.transfer('c1', { toAgentId: 'sam', expectedAgentId: 'dana' });
    await client.transfer('c1', { toTeam: 'billing', reason: 'invoice question' });
    await client.resolve('c1');
    await client.reopen('c1');
    await client.handBack('c1');
    await client.closeConversation('c1');
    expect(await client.rate('c1', 4, 'quick and kind')).toEqual({ seq: 8 });
    expect(await client.inbox('team', { team: 'billing', limit: 20 })).toEqual(inbox);
    expect(await client.cannedReplies('c1')).toEqual(replies);
    expect(await client.setAgentStatus('away')).toEqual(AGENT);
    await client.viewing('c1', true);

    const sent = server.received.filter((request) => request.op !== 'connect').map((request) => [request.op, request.args]);
    expect(sent).toEqual([
      ['support.handoff', { conversationId: 'c1', detail: 'asked for a person' }],
      ['support.claim', { conversationId: 'c1' }],
      ['support.assign', { conversationId: 'c1', agentId: 'sam', expectedAgentId: 'dana' }],
      ['support.transfer', { conversationId: 'c1', toAgentId: 'sam', expectedAgentId: 'dana' }],
      ['support.transfer', { conversationId: 'c1', toTeam: 'billing', reason: 'invoice question' }],
      ['support.resolve', { conversationId: 'c1' }],
      ['support.reopen', { conversationId: 'c1' }],
      ['support.handBack', { conversationId: 'c1' }],
      ['support.close', { conversationId: 'c1' }],
      ['support.rate', { conversationId: 'c1', rating: 4, comment: 'quick and kind' }],
      ['support.inbox', { view: 'team', team: 'billing', limit: 20 }],
      ['support.canned', { conversationId: 'c1' }],
      ['agent.status', { status: 'away' }],
      ['agent.viewing', { conversationId: 'c1', active: true }],
    ]);
  });

  it('refuses bad arguments locally with bad_request, sending nothing', async () => {
    const client = await connected();

    await expect(client.rate('c1', 6)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(client.transfer('c1', { toAgentId: 'sam', toTeam: 'billing' } as never)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(client.inbox('everything' as never)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(client.setAgentStatus('busy' as never)).rejects.toMatchObject({ code: 'bad_request' });
    expect(server.received.filter((request) => request.op !== 'connect')).toEqual([]);
  });

  it('rejects with the server error, such as conflict on a stale assignee', async () => {
    const client = await connected();
    server.intercept = (request, connection) => {
      if (request.op !== 'support.assign') return false;
      connection.fail(request.id, 'conflict', 'the assignee changed');
      return true;
    };

    await expect(client.assign('c1', 'sam', 'dana')).rejects.toMatchObject({ code: 'conflict' });
  });
});

/** Compiles only if `switch (event.type)` narrows `data`: staff events are the catalogue's union. */
function describeStaff(event: ParleyStaffEvent): string {
  switch (event.type) {
    case 'note.created':
      return `note: ${event.data.text}`;
    case 'support.sentiment':
      return `sentiment: ${event.data.label}`;
    case 'support.summary':
      return `summary: ${event.data.text}`;
    default:
      return isKnownStaffEventType(event.type) ? event.type : `${event.type} (not known to this SDK)`;
  }
}
