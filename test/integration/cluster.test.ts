import { Generations, ParleyClient, type ConversationEvent, type GenerationState } from '@parley/client';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { RawClient } from '../support/raw-client.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { token } from '../support/tokens.js';

const texts = (events: ConversationEvent[]) => events.filter((event) => event.type === 'message.created').map((event) => (event.data.content as { text: string }).text);

/** Two gateway processes sharing PostgreSQL and the Redis bus. */
describe('two nodes over Redis and PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  const prefix = `parley-it-${process.pid}-${Date.now()}`;
  let env: Record<string, string>;
  let nodes: TestServer[] = [];
  const clients: ParleyClient[] = [];
  const client = (user: string, url: string) => {
    const created = new ParleyClient({ url, token: () => token(user), WebSocket: WebSocket as never, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
    clients.push(created);
    return created;
  };

  /** Alice on `url` in a new assistant conversation, following it from its start: its events and answers. */
  async function assistantConversation(url: string) {
    const asker = client('alice', url);
    await asker.connect();
    const { conversation } = await asker.open({ assistant: 'assistant' });
    const subscription = asker.subscribe(conversation.id, { since: 0 });
    const events: ConversationEvent[] = [];
    const states: GenerationState[] = [];
    subscription.on('event', (event) => events.push(event));
    new Generations(subscription).on('update', (state) => states.push(state));
    await subscription.ready;
    return { asker, conversationId: conversation.id, events, states };
  }

  beforeAll(async () => {
    schema = await createTestSchema();
    env = { DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_REDIS_URL: REDIS_URL, PARLEY_REDIS_PREFIX: prefix, PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000', PARLEY_DEMO_TTFT_MS: '50', PARLEY_DEMO_TOKENS_PER_SECOND: '200' };
    nodes = [await startServer(env), await startServer(env)];
  });
  afterAll(async () => {
    for (const created of clients) created.close();
    for (const node of nodes) if (node.process.exitCode === null) await node.stop();
    await deleteTestKeys(prefix);
    await schema.drop();
  });

  it('users on different nodes chat in real time', async () => {
    const alice = client('alice', nodes[0]!.wsUrl);
    const bob = client('bob', nodes[1]!.wsUrl);
    await Promise.all([alice.connect(), bob.connect()]);
    const { conversation } = await alice.open({ members: ['bob'] });
    const seenByAlice: ConversationEvent[] = [];
    const seenByBob: ConversationEvent[] = [];
    alice.subscribe(conversation.id, { since: 0 }).on('event', (event) => seenByAlice.push(event));
    const bobSubscription = bob.subscribe(conversation.id, { since: 0 });
    bobSubscription.on('event', (event) => seenByBob.push(event));
    await bobSubscription.ready;
    await alice.send(conversation.id, 'hello from node 1');
    await eventually(() => expect(texts(seenByBob)).toEqual(['hello from node 1']));
    await bob.send(conversation.id, 'hello from node 2');
    await eventually(() => expect(texts(seenByAlice)).toEqual(['hello from node 1', 'hello from node 2']));
    // Presence is shared: alice's node sees bob, who is connected to the other node.
    const online = (await alice.presence(conversation.id)).online.map((entry) => entry.userId).sort();
    expect(online).toEqual(['alice', 'bob']);
  });

  it("streams an assistant answer generated on one node to a member on the other", async () => {
    const alice = client('alice', nodes[0]!.wsUrl);
    const bob = client('bob', nodes[1]!.wsUrl);
    await Promise.all([alice.connect(), bob.connect()]);
    const { conversation } = await alice.open({ members: ['bob'], assistant: 'assistant' });
    const subscription = bob.subscribe(conversation.id, { since: 0 });
    const states: GenerationState[] = [];
    new Generations(subscription).on('update', (state) => states.push(state));
    await subscription.ready;
    await alice.send(conversation.id, 'where is my order 1234?');
    await eventually(() => expect(states.at(-1)?.status).toBe('completed'));
    const final = states.at(-1)!;
    expect(final.text).toContain('Order 1234');
    const streaming = states.filter((state) => state.status === 'streaming' && state.text.length > 0);
    expect(streaming.length).toBeGreaterThan(0);
    for (const state of streaming) expect(final.text.startsWith(state.text)).toBe(true);
  });

  it('a client that subscribes on the other node mid-answer gets the text so far, then the rest', async () => {
    const { asker, conversationId, states: ownStates } = await assistantConversation(nodes[0]!.wsUrl);
    await asker.send(conversationId, 'tell me a long story');
    await eventually(() => expect(ownStates.at(-1)?.text.length ?? 0).toBeGreaterThan(60));
    const elsewhere = client('alice', nodes[1]!.wsUrl); // the generation runs on node 1; this client is on node 2
    await elsewhere.connect();
    const subscription = elsewhere.subscribe(conversationId);
    const states: GenerationState[] = [];
    new Generations(subscription).on('update', (state) => states.push(state));
    await eventually(() => expect(states.at(-1)?.status).toBe('completed'));
    const final = states.at(-1)!;
    // The first thing it shows is the snapshot of the text so far (kept in Redis by node 1), still streaming.
    expect(states[0]).toMatchObject({ status: 'streaming', text: expect.stringMatching(/^Here is a long answer/) });
    const streaming = states.filter((state) => state.status === 'streaming');
    for (const state of streaming) expect(final.text.startsWith(state.text)).toBe(true);
    expect(streaming.at(-1)!.text).toBe(final.text);
  });

  it('Stop from a client on the other node ends an answer generated on this one', async () => {
    const { asker, conversationId, states } = await assistantConversation(nodes[0]!.wsUrl);
    await asker.send(conversationId, 'tell me a long story');
    await eventually(() => expect(states.at(-1)?.text.length ?? 0).toBeGreaterThan(40));
    const otherDevice = client('alice', nodes[1]!.wsUrl);
    await otherDevice.connect();
    const stopped = await otherDevice.stopGeneration(conversationId);
    expect(stopped).toEqual([states.at(-1)!.generationId]);
    await eventually(() => expect(states.at(-1)?.status).toBe('stopped'));
  });

  it('an approval sent through the other node releases the tool call once', async () => {
    const { asker, conversationId, events } = await assistantConversation(nodes[0]!.wsUrl);
    await asker.send(conversationId, 'cancel my order 4242');
    await eventually(() => expect(events.some((event) => event.type === 'ai.approval_requested')).toBe(true));
    const approvalId = String(events.find((event) => event.type === 'ai.approval_requested')!.data.approvalId);
    const otherDevice = client('alice', nodes[1]!.wsUrl); // the generation runs on node 1
    await otherDevice.connect();
    const decisions = await Promise.all([otherDevice.approveTool(conversationId, approvalId, true), asker.approveTool(conversationId, approvalId, false)]);
    expect(decisions.filter((decision) => !decision.duplicate)).toHaveLength(1);
    const winner = decisions.find((decision) => !decision.duplicate)!.approved;
    expect(decisions.every((decision) => decision.approved === winner)).toBe(true);
    await eventually(() => expect(events.some((event) => event.type === 'ai.completed')).toBe(true));
    expect(events.filter((event) => event.type === 'ai.approval_resolved')).toHaveLength(1);
    const results = events.filter((event) => event.type === 'ai.tool_result');
    expect(results).toHaveLength(1);
    expect(results[0]!.data.output).toMatchObject(winner ? { cancelled: true, cancellationsOfThisOrder: 1 } : { error: 'denied' });
  });

  it('an agent on the other node can inspect the context of a generation that ran on this one', async () => {
    const { asker, conversationId, events } = await assistantConversation(nodes[0]!.wsUrl);
    await asker.send(conversationId, 'how long does shipping take?');
    await eventually(() => expect(events.some((event) => event.type === 'ai.completed')).toBe(true));
    const generationId = String(events.find((event) => event.type === 'ai.completed')!.data.generationId);
    const agent = await RawClient.connect(nodes[1]!.wsUrl, await token('agent-1', { roles: ['agent'] }));
    const context = await agent.call('ai.context', { conversationId, generationId });
    expect(context).toMatchObject({ generationId, messages: [{ role: 'user', content: 'how long does shipping take?' }] });
    const user = await RawClient.connect(nodes[1]!.wsUrl, await token('alice'));
    expect((await user.request('ai.context', { conversationId, generationId })).error?.code).toBe('forbidden');
    agent.close();
    user.close();
  });

  it('a client of a node that is killed resumes on the other node with nothing lost or repeated', async () => {
    const proxy = await TcpProxy.start(nodes[0]!.port);
    try {
      const bob = client('bob', nodes[1]!.wsUrl);
      await bob.connect();
      const alice = client('alice', `ws://127.0.0.1:${proxy.port}/v1/ws`);
      await alice.connect();
      const { conversation, received } = await aliceFollowsBobsConversation(bob, alice);

      proxy.retarget(nodes[1]!.port); // the load balancer sends reconnects to the surviving node
      await nodes[0]!.kill();
      const sent = Array.from({ length: 50 }, (_, index) => `while node 1 is gone ${index}`);
      for (const text of sent) await bob.send(conversation.id, text);
      await eventually(() => expect(texts(received)).toHaveLength(51));
      expect(texts(received)).toEqual(['before', ...sent]);
      expect(received.map((event) => event.seq)).toEqual(received.map((_, index) => index + 1));
      nodes[0] = await startServer(env); // for afterAll symmetry
    } finally {
      await proxy.close();
    }
  });
});

/** Bob opens a conversation with alice, who follows it from its start; returns once bob's `before` reached her. */
async function aliceFollowsBobsConversation(bob: ParleyClient, alice: ParleyClient) {
  const { conversation } = await bob.open({ members: ['alice'] });
  const received: ConversationEvent[] = [];
  const subscription = alice.subscribe(conversation.id, { since: 0 });
  subscription.on('event', (event) => received.push(event));
  await subscription.ready;
  await bob.send(conversation.id, 'before');
  await eventually(() => expect(texts(received)).toEqual(['before']));
  return { conversation, received };
}

/** A Redis server of the test's own, so that it can be killed and restarted. */
async function startRedis(port: number): Promise<{ kill(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  process.once('exit', () => child.kill('SIGKILL'));
  const probe = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, retryStrategy: () => 50 });
  probe.on('error', () => undefined);
  for (let attempt = 0; (await probe.ping().catch(() => 'down')) !== 'PONG'; attempt++) {
    if (attempt > 200) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  probe.disconnect();
  return {
    kill: async () => {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

describe('a Redis restart during traffic', () => {
  it('loses no durable event: nodes re-subscribe and clients get everything once, in order', async () => {
    const port = 16_379 + (process.pid % 1000);
    let redis = await startRedis(port);
    const schema = await createTestSchema();
    const env = { DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_REDIS_URL: `redis://127.0.0.1:${port}`, PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000', PARLEY_USER_SEND_RATE_PER_SECOND: '10000', PARLEY_USER_SEND_BURST: '10000' };
    const nodes = [await startServer(env), await startServer(env)];
    const clients: ParleyClient[] = [];
    try {
      const alice = new ParleyClient({ url: nodes[0]!.wsUrl, token: () => token('alice'), WebSocket: WebSocket as never });
      const bob = new ParleyClient({ url: nodes[1]!.wsUrl, token: () => token('bob'), WebSocket: WebSocket as never });
      clients.push(alice, bob);
      await Promise.all([alice.connect(), bob.connect()]);
      const { conversation, received } = await aliceFollowsBobsConversation(bob, alice);

      await redis.kill();
      const during = Array.from({ length: 20 }, (_, index) => `during ${index}`);
      for (const text of during) await bob.send(conversation.id, text); // committed to PostgreSQL; publishes fail
      redis = await startRedis(port);
      await bob.send(conversation.id, 'after');
      await eventually(() => expect(texts(received)).toHaveLength(22), 30_000);
      expect(texts(received)).toEqual(['before', ...during, 'after']);
      expect(received.map((event) => event.seq)).toEqual(received.map((_, index) => index + 1));
    } finally {
      for (const created of clients) created.close();
      for (const node of nodes) await node.stop();
      await redis.kill();
      await schema.drop();
    }
  });
});

describe('shutdown while Redis is down', () => {
  it('exits 0 on SIGTERM instead of waiting for Redis', async () => {
    const port = 17_379 + (process.pid % 1000);
    const redis = await startRedis(port);
    const schema = await createTestSchema();
    const node = await startServer({ DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_REDIS_URL: `redis://127.0.0.1:${port}` });
    try {
      await redis.kill();
      await new Promise((resolve) => setTimeout(resolve, 1000)); // ioredis is in its reconnect backoff by now
      expect(await node.stop()).toBe(0);
    } finally {
      if (node.process.exitCode === null) await node.kill();
      await schema.drop();
    }
  });
});
