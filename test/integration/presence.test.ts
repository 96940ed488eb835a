import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { RawClient } from '../support/raw-client.js';
import { REDIS_URL, redisTestPrefix } from '../support/redis.js';
import { startServer, type TestServer } from '../support/server.js';
import { token } from '../support/tokens.js';

const GRACE_MS = 1500;
const LIMITS = { PARLEY_PRESENCE_GRACE_MS: String(GRACE_MS), PARLEY_RATE_PER_SECOND: '1000', PARLEY_RATE_BURST: '1000' };
const presenceOf = (client: RawClient, type: string, userId: string) =>
  client.frames.filter((frame) => frame.push === 'signal' && frame.signal.type === type && frame.signal.actor.id === userId);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** alice and bob subscribed to a new conversation; resolves once alice has seen bob join. */
async function meet(aliceNode: TestServer, bobNode: TestServer, conversationId: string): Promise<{ alice: RawClient; bob: RawClient }> {
  const alice = await RawClient.connect(aliceNode.wsUrl, await token('alice'));
  await alice.call('conversation.open', { conversationId, members: ['bob'] });
  await alice.call('subscribe', { conversationId });
  const bob = await RawClient.connect(bobNode.wsUrl, await token('bob'));
  await bob.call('subscribe', { conversationId });
  await alice.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'presence.joined' && frame.signal.actor.id === 'bob');
  return { alice, bob };
}

/**
 * Waits past the grace, then has alice send a message and receive it back: any presence signal published
 * before that (by the grace timer of the lost connection) has been delivered to her by then.
 */
async function pastTheGrace(alice: RawClient, conversationId: string, clientMsgId: string): Promise<void> {
  await sleep(GRACE_MS + 500);
  const { seq } = await alice.call('message.send', { conversationId, clientMsgId, content: { type: 'text', text: 'still there?' } });
  await alice.waitFor((frame) => frame.push === 'event' && frame.event.seq === seq);
}

/**
 * bob's connection drops; he comes back on `node` within the grace and resumes. Past the grace, alice has
 * seen him neither leave nor join again. Resolves with bob's new connection.
 */
async function dropAndResume(alice: RawClient, bob: RawClient, node: TestServer, conversationId: string): Promise<RawClient> {
  bob.terminate();
  const again = await RawClient.connect(node.wsUrl, await token('bob'));
  await again.call('subscribe', { conversationId, since: 1 });
  await pastTheGrace(alice, conversationId, 'm-1');
  expect(presenceOf(alice, 'presence.left', 'bob')).toHaveLength(0);
  expect(presenceOf(alice, 'presence.joined', 'bob')).toHaveLength(1);
  return again;
}

describe('presence grace on one node', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer(LIMITS);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a user whose connection dropped and who came back within the grace neither left nor joined again', async () => {
    const { alice, bob } = await meet(server, server, 'grace-back');
    const again = await dropAndResume(alice, bob, server, 'grace-back');
    const { online } = await alice.call('presence', { conversationId: 'grace-back' });
    expect(online).toContainEqual({ userId: 'bob', connections: 1 });
    again.close();
    await alice.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'presence.left' && frame.signal.actor.id === 'bob');
    alice.close();
  });

  it('a dropped user who does not come back leaves when the grace ends; one who closes leaves at once', async () => {
    const { alice, bob } = await meet(server, server, 'grace-gone');
    const droppedAt = performance.now();
    bob.terminate();
    await alice.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'presence.left' && frame.signal.actor.id === 'bob');
    // A lower bound only: the leave cannot come before its timer.
    expect(performance.now() - droppedAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect((await alice.call('presence', { conversationId: 'grace-gone' })).online).toEqual([{ userId: 'alice', connections: 1 }]);

    const carol = await RawClient.connect(server.wsUrl, await token('carol'));
    await alice.call('conversation.open', { conversationId: 'grace-closed', members: ['carol'] });
    await alice.call('subscribe', { conversationId: 'grace-closed' });
    await carol.call('subscribe', { conversationId: 'grace-closed' });
    await alice.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'presence.joined' && frame.signal.actor.id === 'carol');
    carol.close();
    await alice.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'presence.left' && frame.signal.actor.id === 'carol');
    alice.close();
  });
});

describe('presence grace across nodes (Redis)', () => {
  const nodes: TestServer[] = [];
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const schema = await createTestSchema();
    const redis = redisTestPrefix('presence');
    cleanup = async () => (await redis.cleanup(), await schema.drop());
    const env = { ...LIMITS, DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_REDIS_URL: REDIS_URL, PARLEY_REDIS_PREFIX: redis.prefix };
    nodes.push(await startServer(env), await startServer(env));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await cleanup();
  });

  it('a user dropped on one node who resumes on another within the grace neither left nor joined again', async () => {
    const [first, second] = nodes as [TestServer, TestServer];
    const { alice, bob } = await meet(first, first, 'grace-move');
    const again = await dropAndResume(alice, bob, second, 'grace-move');
    again.close();
    await alice.waitFor((frame) => frame.push === 'signal' && frame.signal.type === 'presence.left' && frame.signal.actor.id === 'bob');
    alice.close();
  });
});
