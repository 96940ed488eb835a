import { Generations, ParleyClient, type ConversationEvent, type GenerationState } from '@parley/client';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const VISIBILITY_MS = 2000;
// The bound docs/operations.md states: the visibility timeout, plus a quarter of it until a worker's next scan.
const STATED_BOUND_MS = VISIBILITY_MS * 1.25;

/** A metric's value in a node's /metrics (0 when absent). */
async function metric(node: TestServer, line: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const found = text.split('\n').find((each) => each.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

/** Gateways that only serve clients, and workers that only answer, sharing Redis and PostgreSQL. */
describe('gateway and worker roles', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  const prefix = `parley-it-roles-${process.pid}-${Date.now()}`;
  let env: Record<string, string>;
  let gateways: TestServer[] = [];
  let workers: TestServer[] = [];
  const clients: ParleyClient[] = [];
  const client = (user: string, node: TestServer) => {
    const created = new ParleyClient({ url: node.wsUrl, token: () => token(user), WebSocket: WebSocket as never, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
    clients.push(created);
    return created;
  };

  /** Alice's assistant conversation, with bob as a member, followed by both from their own gateways. */
  async function conversationOnTwoGateways() {
    const alice = client('alice', gateways[0]!);
    const bob = client('bob', gateways[1]!);
    await Promise.all([alice.connect(), bob.connect()]);
    const { conversation } = await alice.open({ members: ['bob'], assistant: 'assistant' });
    const follow = (who: ParleyClient) => {
      const subscription = who.subscribe(conversation.id, { since: 0 });
      const events: ConversationEvent[] = [];
      const states: GenerationState[] = [];
      subscription.on('event', (event) => events.push(event));
      new Generations(subscription).on('update', (state) => states.push(state));
      return { subscription, events, states };
    };
    const seenByAlice = follow(alice);
    const seenByBob = follow(bob);
    await Promise.all([seenByAlice.subscription.ready, seenByBob.subscription.ready]);
    return { alice, bob, conversationId: conversation.id, seenByAlice, seenByBob };
  }

  beforeAll(async () => {
    schema = await createTestSchema();
    env = {
      DATABASE_URL,
      PARLEY_DATABASE_SCHEMA: schema.schema,
      PARLEY_REDIS_URL: REDIS_URL,
      PARLEY_REDIS_PREFIX: prefix,
      PARLEY_RATE_PER_SECOND: '1000',
      PARLEY_RATE_BURST: '1000',
      PARLEY_USER_SEND_RATE_PER_SECOND: '10000',
      PARLEY_USER_SEND_BURST: '10000',
      PARLEY_DEMO_TTFT_MS: '50',
      PARLEY_DEMO_TOKENS_PER_SECOND: '30',
      PARLEY_AI_JOB_VISIBILITY_MS: String(VISIBILITY_MS),
    };
    gateways = [await startServer({ ...env, PARLEY_ROLE: 'gateway' }), await startServer({ ...env, PARLEY_ROLE: 'gateway' })];
    workers = [await startServer({ ...env, PARLEY_ROLE: 'worker' }), await startServer({ ...env, PARLEY_ROLE: 'worker' })];
  });
  afterAll(async () => {
    for (const created of clients) created.close();
    for (const node of [...gateways, ...workers]) if (node.process.exitCode === null && node.process.signalCode === null) await node.stop();
    await deleteTestKeys(prefix);
    await schema.drop();
  });

  it('a worker answers; the answer streams to members on both gateways, which run no AI themselves', async () => {
    const { alice, conversationId, seenByAlice, seenByBob } = await conversationOnTwoGateways();
    await alice.send(conversationId, 'where is my order 1234?');
    await eventually(() => expect(seenByBob.states.at(-1)?.status).toBe('completed'));
    await eventually(() => expect(seenByAlice.states.at(-1)?.status).toBe('completed'));
    expect(seenByBob.states.at(-1)!.text).toContain('Order 1234');
    expect(seenByBob.states.filter((state) => state.status === 'streaming' && state.text.length > 0).length).toBeGreaterThan(0);
    const completedOn = async (node: TestServer) => metric(node, 'parley_ai_generations_total{outcome="completed"}');
    expect((await Promise.all(gateways.map(completedOn))).reduce((sum, count) => sum + count, 0)).toBe(0);
    expect((await Promise.all(workers.map(completedOn))).reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(1);
  });

  it('Stop sent through the other gateway reaches the worker running the answer', async () => {
    const { alice, bob, conversationId, seenByAlice, seenByBob } = await conversationOnTwoGateways();
    await alice.send(conversationId, 'tell me a long story');
    await eventually(() => expect(seenByAlice.states.at(-1)?.text.length ?? 0).toBeGreaterThan(10));
    const stopped = await bob.stopGeneration(conversationId);
    expect(stopped).toEqual([seenByAlice.states.at(-1)!.generationId]);
    await eventually(() => expect(seenByBob.states.at(-1)?.status).toBe('stopped'));
    await eventually(() => expect(seenByAlice.states.at(-1)?.status).toBe('stopped'));
  });

  it('a worker does not serve WebSocket clients', async () => {
    const socket = new WebSocket(workers[0]!.wsUrl);
    const outcome = await new Promise<string>((resolve) => {
      socket.once('open', () => resolve('open'));
      socket.once('error', () => resolve('refused'));
      socket.once('unexpected-response', (_request, response) => resolve(`http ${response.statusCode}`));
    });
    socket.terminate();
    expect(outcome).not.toBe('open');
    expect((await fetch(`${workers[0]!.url}/readyz`)).status).toBe(200);
  });

  it('kill -9 of the worker mid-answer: the answer ends in ai.failed (worker_lost) within the stated bound, once', async () => {
    const { alice, conversationId, seenByAlice, seenByBob } = await conversationOnTwoGateways();
    await alice.send(conversationId, 'tell me a long story');
    await eventually(() => expect(seenByAlice.states.at(-1)?.text.length ?? 0).toBeGreaterThan(20));
    const running = await Promise.all(workers.map((node) => metric(node, 'parley_ai_running')));
    const victim = running.findIndex((count) => count === 1);
    expect(victim).toBeGreaterThanOrEqual(0);
    const textBeforeKill = seenByAlice.states.at(-1)!.text;
    const killedAt = Date.now();
    await workers[victim]!.kill();
    await eventually(() => expect(seenByAlice.states.at(-1)?.status).toBe('failed'), STATED_BOUND_MS * 4);
    const endedAfterMs = Date.now() - killedAt;
    const final = seenByAlice.states.at(-1)!;
    expect(final.error?.code).toBe('worker_lost');
    // What was streamed before the kill is kept in the terminal event, from the text kept in Redis (which may lag a delta).
    expect(final.text.length).toBeGreaterThan(0);
    expect(textBeforeKill.startsWith(final.text) || final.text.startsWith(textBeforeKill)).toBe(true);
    await eventually(() => expect(seenByBob.states.at(-1)?.status).toBe('failed'));
    const terminals = (events: ConversationEvent[]) => events.filter((event) => ['ai.completed', 'ai.stopped', 'ai.failed'].includes(event.type));
    expect(terminals(seenByAlice.events)).toHaveLength(1);
    expect(seenByAlice.events.filter((event) => event.type === 'ai.started')).toHaveLength(1);
    console.log(JSON.stringify({ scenario: 'worker-sigkill', endedAfterMs, statedBoundMs: STATED_BOUND_MS, terminalEvents: terminals(seenByAlice.events).length }));

    // The surviving worker answers the next message.
    await alice.send(conversationId, 'how long does shipping take?');
    await eventually(() => expect(seenByAlice.states.at(-1)?.status).toBe('completed'));
    expect(terminals(seenByAlice.events).map((event) => event.type)).toEqual(['ai.failed', 'ai.completed']);
    workers[victim] = await startServer({ ...env, PARLEY_ROLE: 'worker' });
  });

  it('refuses --role gateway without Redis and PostgreSQL, with a message that says why', async () => {
    await expect(startServer({ PARLEY_ROLE: 'gateway' })).rejects.toThrow(/--role gateway shares work with other nodes: set PARLEY_REDIS_URL and DATABASE_URL/);
  });
});
