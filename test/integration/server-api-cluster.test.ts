import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall as call } from '../support/api.js';
import { eventually } from '../support/eventually.js';
import { createTestSchema, DATABASE_URL } from '../support/postgres.js';
import { RawClient } from '../support/raw-client.js';
import { deleteTestKeys, REDIS_URL } from '../support/redis.js';
import { startServer, TEST_SECRET, type TestServer } from '../support/server.js';

const CLI = fileURLToPath(new URL('../../packages/server/dist/cli.js', import.meta.url));
import { token } from '../support/tokens.js';

const text = (value: string) => ({ type: 'text', text: value });


/** What the server API does on one node reaches users connected to another, over Redis. */
describe('server API across nodes (PostgreSQL + Redis)', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  const prefix = `parley-it-api-${process.pid}-${Date.now()}`;
  let nodes: TestServer[] = [];
  let key: string;

  beforeAll(async () => {
    schema = await createTestSchema();
    const env = { DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_REDIS_URL: REDIS_URL, PARLEY_REDIS_PREFIX: prefix };
    nodes = [await startServer(env), await startServer(env)];
    const created = await call(nodes[0]!, await token('admin', { roles: ['admin'] }), 'POST', '/keys', { name: 'backend', scopes: ['conversations:write', 'messages:write', 'users:write'] });
    key = created.body.key;
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await schema.drop();
    await deleteTestKeys(prefix);
  });

  it('removing a member on node 1 ends that user’s subscription on node 2 at once', async () => {
    await call(nodes[0]!, key, 'POST', '/conversations', { id: 'team', members: ['alice', 'bob'] });
    const bob = await RawClient.connect(nodes[1]!.wsUrl, await token('bob'));
    await bob.call('subscribe', { conversationId: 'team', since: 0 });
    expect((await call(nodes[0]!, key, 'POST', '/conversations/team/members/remove', { userIds: ['bob'] })).body).toEqual({ removed: ['bob'], seq: 2 });
    expect(await bob.waitFor((frame) => frame.push === 'unsubscribed')).toMatchObject({ conversationId: 'team', code: 'forbidden' });
    await call(nodes[0]!, key, 'POST', '/conversations/team/messages', { content: text('after bob left'), sender: { kind: 'user', id: 'alice' } });
    // Node 2 had the conversation cached from bob's subscribe; the removal invalidated it.
    expect((await bob.request('message.send', { conversationId: 'team', clientMsgId: 'late', content: text('x') })).error.code).toBe('forbidden');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(bob.frames.some((frame) => frame.event?.seq === 3)).toBe(false);
    bob.close();
  });

  it('notifies and disconnects a user connected to another node', async () => {
    const carol = await RawClient.connect(nodes[1]!.wsUrl, await token('carol'));
    await call(nodes[0]!, key, 'POST', '/users/carol/notify', { data: { title: 'hi' } });
    expect((await carol.waitFor((frame) => frame.push === 'notification')).notification.data).toEqual({ title: 'hi' });
    await call(nodes[0]!, key, 'POST', '/users/carol/disconnect', {});
    expect((await carol.closed()).code).toBe(4006);
  });

  it('a key revoked through node 1 is refused by node 2, which had it cached', async () => {
    const admin = await token('admin', { roles: ['admin'] });
    const created = await call(nodes[0]!, admin, 'POST', '/keys', { name: 'short-lived', scopes: ['conversations:read'] });
    const shortLived = created.body.key as string;
    expect((await call(nodes[1]!, shortLived, 'GET', '/conversations/team')).status).toBe(200);
    expect((await call(nodes[0]!, admin, 'DELETE', `/keys/${created.body.apiKey.id}`)).status).toBe(204);
    await eventually(async () => expect((await call(nodes[1]!, shortLived, 'GET', '/conversations/team')).status).toBe(401), 2000);
  });

  it('parley apikey works against PostgreSQL directly, beside running nodes; a revocation reaches them within their key cache (10 s)', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, DATABASE_URL, PARLEY_DATABASE_SCHEMA: schema.schema, PARLEY_JWT_SECRET: TEST_SECRET };
    const created = await run(process.execPath, [CLI, 'apikey', 'create', '--tenant', 'acme', '--scopes', 'conversations:read', '--name', 'ops'], { env });
    const cliKey = created.stdout.trim();
    expect((await call(nodes[1]!, cliKey, 'GET', '/conversations/team')).status).toBe(200);
    const id = cliKey.slice(4, 20);
    expect((await run(process.execPath, [CLI, 'apikey', 'list', '--tenant', 'acme'], { env })).stdout).toContain(`${id}  ops  conversations:read`);
    await run(process.execPath, [CLI, 'apikey', 'revoke', '--tenant', 'acme', '--id', id], { env });
    await eventually(async () => expect((await call(nodes[1]!, cliKey, 'GET', '/conversations/team')).status).toBe(401), 15_000);
  });
});
