import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlOf } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { RawClient } from '../support/raw-client.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const AGENTS = 20;
const CAPACITY = 5;

/**
 * Routing across two nodes on PostgreSQL and Redis: every node routes, and the assignment's transaction
 * (agent row, then conversation row) makes one winner per conversation with nobody over capacity. Agents who
 * do not accept in time, or who go offline, lose the assignments they had not accepted.
 */
describe('support routing across two nodes', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  const prefix = `parley-it-routing-${process.pid}-${Date.now()}`;
  const nodes: TestServer[] = [];
  const clients: RawClient[] = [];
  let db: pg.Client;
  const connect = async (node: TestServer, user: string, roles: string[] = ['user'], tenant = 'acme') => {
    const client = await RawClient.connect(node.wsUrl, await token(user, { tenant, roles, claims: { name: user.toUpperCase() } }));
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    schema = await createTestSchema();
    const env = {
      PARLEY_DATABASE_SCHEMA: schema.schema,
      PARLEY_REDIS_URL: REDIS_URL,
      PARLEY_REDIS_PREFIX: prefix,
      PARLEY_DEMO_TTFT_MS: '20',
      PARLEY_DEMO_TOKENS_PER_SECOND: '400',
      PARLEY_SUPPORT_ROUTE_INTERVAL_MS: '300',
      PARLEY_SUPPORT_ACCEPT_TIMEOUT_MS: '2000',
      PARLEY_PRESENCE_GRACE_MS: '1500',
      PARLEY_RATE_PER_SECOND: '1000',
      PARLEY_RATE_BURST: '1000',
    };
    nodes.push(await startServer({ ...env, DATABASE_URL: databaseUrlOf(`parley-routing-a-${process.pid}`) }));
    nodes.push(await startServer({ ...env, DATABASE_URL: databaseUrlOf(`parley-routing-b-${process.pid}`) }));
    db = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema.schema}` });
    await db.connect();
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const node of nodes) await node.stop();
    await db?.end();
    await deleteTestKeys(prefix);
    await schema?.drop();
  });

  /** A customer's support conversation on `node`, handed off at once. */
  async function handOff(customer: RawClient, id: string): Promise<void> {
    await customer.call('conversation.open', { conversationId: id, assistant: 'assistant' });
    await customer.call('support.handoff', { conversationId: id });
  }

  it('gives each conversation to one agent, none over capacity, with twenty agents on two nodes', async () => {
    const agents = await Promise.all(Array.from({ length: AGENTS }, (_, index) => connect(nodes[index % 2]!, `agent-${index}`, ['agent'])));
    await Promise.all(agents.map((agent) => agent.call('agent.status', { status: 'online' })));
    // More conversations than the agents can take: the rest wait in the queue.
    const total = AGENTS * CAPACITY + 20;
    const customers = await Promise.all([connect(nodes[0]!, 'crowd-a'), connect(nodes[1]!, 'crowd-b')]);
    await Promise.all(Array.from({ length: total }, (_, index) => handOff(customers[index % 2]!, `crowd-${index}`)));
    // Nobody ever holds more than their capacity; at some moment every agent is full (the accept timeout,
    // 2 s here, takes unaccepted assignments back and routing gives them out again meanwhile).
    const perAgent = async () => (await db.query("SELECT assignee, count(*)::int AS n FROM parley_conversations WHERE mode = 'agent' AND id LIKE 'crowd-%' GROUP BY assignee")).rows;
    await eventually(async () => {
      const rows = await perAgent();
      for (const row of rows) expect(row.n, row.assignee).toBeLessThanOrEqual(CAPACITY);
      expect(rows.reduce((sum, row) => sum + row.n, 0)).toBe(AGENTS * CAPACITY);
    }, 30_000);
    for (let check = 0; check < 5; check++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const row of await perAgent()) expect(row.n, row.assignee).toBeLessThanOrEqual(CAPACITY);
    }
    // One winner per assignment: in each conversation, an assignment is only ever followed by a release.
    const { rows } = await db.query(
      "SELECT conversation, type FROM parley_events WHERE type IN ('conversation.assigned', 'conversation.transferred') AND conversation LIKE 'crowd-%' ORDER BY conversation, seq",
    );
    const last = new Map<string, string>();
    for (const row of rows) {
      if (row.type === 'conversation.assigned') expect(last.get(row.conversation), row.conversation).not.toBe('conversation.assigned');
      last.set(row.conversation, row.type);
    }
    expect(new Set(rows.map((row) => row.conversation)).size).toBeGreaterThanOrEqual(AGENTS * CAPACITY);
    for (const agent of agents) await agent.call('agent.status', { status: 'offline' });
  });

  it('takes back an assignment not accepted in time, and one whose agent went offline, and routes it again', async () => {
    const tenant = 'beta';
    const slow = await connect(nodes[0]!, 'slow', ['agent'], tenant);
    await slow.call('agent.status', { status: 'online' });
    const customer = await connect(nodes[1]!, 'cust', ['user'], tenant);
    await handOff(customer, 'late-1');
    await customer.call('subscribe', { conversationId: 'late-1', since: 0 });
    await customer.waitFor((frame) => frame.push === 'event' && frame.event.type === 'conversation.assigned');
    // Slow never accepts: after the accept timeout the conversation goes back to the queue, and to Slow again.
    await customer.waitFor((frame) => frame.push === 'event' && frame.event.type === 'conversation.queued' && frame.event.data.reason === 'not_accepted', 15_000);

    // Slow leaves without going offline; a colleague on the other node comes online.
    const quick = await connect(nodes[1]!, 'quick', ['agent'], tenant);
    await quick.call('agent.status', { status: 'online' });
    slow.terminate();
    await eventually(async () => {
      const { rows } = await db.query("SELECT mode, assignee, accepted FROM parley_conversations WHERE tenant = $1 AND id = 'late-1'", [tenant]);
      expect(rows[0]).toMatchObject({ mode: 'agent', assignee: 'quick' });
    }, 20_000);
    // Quick accepts by answering: the assignment stays.
    await quick.call('message.send', { conversationId: 'late-1', clientMsgId: 'hi', content: { type: 'text', text: 'Quick here, how can I help?' } });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const { rows } = await db.query("SELECT mode, assignee, accepted FROM parley_conversations WHERE tenant = $1 AND id = 'late-1'", [tenant]);
    expect(rows[0]).toEqual({ mode: 'agent', assignee: 'quick', accepted: true });
    const reasons = customer.events('late-1').filter((event: any) => event.type === 'conversation.queued').map((event: any) => event.data.reason);
    expect(reasons[0]).toBe('user');
    expect(reasons).toContain('not_accepted');
  });

  it('delivers staff-only events across nodes to staff, in order, and never to the customer', async () => {
    const tenant = 'gamma';
    const customer = await connect(nodes[0]!, 'gcust', ['user'], tenant);
    await handOff(customer, 'notes-1');
    await customer.call('subscribe', { conversationId: 'notes-1', since: 0 });
    const writer = await connect(nodes[0]!, 'gwriter', ['agent'], tenant);
    const reader = await connect(nodes[1]!, 'greader', ['agent'], tenant);
    await reader.call('subscribe', { conversationId: 'notes-1', since: 0, staffSince: 0 });
    for (let index = 0; index < 20; index++) await writer.call('support.note', { conversationId: 'notes-1', clientMsgId: `n${index}`, text: `note ${index}` });
    const notes = () => (reader as unknown as { frames: any[] }).frames.filter((frame) => frame.push === 'staffEvent' && frame.event.type === 'note.created');
    await eventually(() => expect(notes()).toHaveLength(20));
    expect(notes().map((frame) => frame.event.data.text)).toEqual(Array.from({ length: 20 }, (_, index) => `note ${index}`));
    const staffSeqs = (reader as unknown as { frames: any[] }).frames.filter((frame) => frame.push === 'staffEvent').map((frame) => frame.event.staffSeq);
    expect(staffSeqs).toEqual(staffSeqs.map((_: number, index: number) => index + 1));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((customer as unknown as { frames: any[] }).frames.some((frame) => frame.push === 'staffEvent' || frame.signal?.type === 'staff.event')).toBe(false);
  });
});
